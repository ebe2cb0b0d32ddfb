#ifndef CSYSTEMD_SHIM_H
#define CSYSTEMD_SHIM_H
// Plain sd_journal_sendv (no CODE_FILE/CODE_LINE macro wrapper): Swift cannot call the macro.
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
