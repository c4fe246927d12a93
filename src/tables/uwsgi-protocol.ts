// The uWSGI emperor protocol bytes (docs/UWSGI.md §2.1): one byte per message on the UWSGI_EMPEROR_FD socketpair. A leaf
// module, so the app-side helper (package export 'emperor/vassal') can speak the protocol without loading the emperor.

/** Emperor -> vassal. */
export const TO_VASSAL = { stop: 0, reload: 1, gracefulStop: 2 } as const;

/** Vassal -> emperor. */
export const FROM_VASSAL = {
  spawned: 1,
  configRequest: 2,
  accepting: 5,
  loyal: 17,
  voluntaryShutdown: 22,
  heartbeat: 26,
  broodlordSos: 30,
} as const;
