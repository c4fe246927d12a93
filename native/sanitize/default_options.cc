// Linked into the ASan+UBSan builds of emperor-init and emperor-agent only (scripts/run-sanitized.js), never into
// what ships. The options are compiled in, not read from ASAN_OPTIONS: the init hands its environment to every app,
// and a vassal's environment is the config's to decide.
//
// Every report goes to a file of its own under EMPEROR_SANITIZER_LOG (a directory the CI step empties before the
// tests and reads after them, so that a report fails CI even where the test itself passed), and ends the process
// with an exit code no program here uses. Leak checking is off: the init ends with _exit, and a tenant's
// non-dumpable init cannot be stopped by LeakSanitizer's ptrace.
#ifndef EMPEROR_SANITIZER_LOG
#error "EMPEROR_SANITIZER_LOG: the path prefix of the sanitizer reports"
#endif

extern "C" const char* __asan_default_options() {
  return "detect_leaks=0:abort_on_error=0:exitcode=86:log_path=" EMPEROR_SANITIZER_LOG;
}

extern "C" const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1:exitcode=86:log_path=" EMPEROR_SANITIZER_LOG;
}
