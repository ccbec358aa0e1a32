/* Shared main() for Check unit-test binaries: each tests/unit/test_*.c
 * defines its suite and ends with CHECK_MAIN(make_suite). */
#ifndef MEMVM_CHECK_MAIN_H
#define MEMVM_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

#define CHECK_MAIN(suite_fn)                                 \
	int main(void)                                       \
	{                                                    \
		SRunner *sr = srunner_create(suite_fn());    \
		srunner_run_all(sr, CK_NORMAL);              \
		int failed = srunner_ntests_failed(sr);      \
		srunner_free(sr);                            \
		return failed ? EXIT_FAILURE : EXIT_SUCCESS; \
	}

#endif
