/* error.c - the runtime's last-error message. */
#include <stdarg.h>
#include <stdio.h>

#include "dnrt.h"

static _Thread_local char last_error[1024];

const char *dnrt_error(void) { return last_error; }

int dnrt_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return -1;
}
