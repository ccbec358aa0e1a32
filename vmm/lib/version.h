/* memvm's version, as -version, QMP's greeting and query-version report it. */
#ifndef MEMVM_VERSION_H
#define MEMVM_VERSION_H

#define MEMVM_VERSION "0.1.0"

#endif
