// Linux capabilities by uWSGI's names: a leaf table.

// uWSGI's capability names (utils.c uwsgi_cap_list) in kernel order, then the ones Linux added since.
const CAPABILITIES = [
  'chown',
  'dac_override',
  'dac_read_search',
  'fowner',
  'fsetid',
  'kill',
  'setgid',
  'setuid',
  'setpcap',
  'linux_immutable',
  'net_bind_service',
  'net_broadcast',
  'net_admin',
  'net_raw',
  'ipc_lock',
  'ipc_owner',
  'sys_module',
  'sys_rawio',
  'sys_chroot',
  'sys_ptrace',
  'sys_pacct',
  'sys_admin',
  'sys_boot',
  'sys_nice',
  'sys_resource',
  'sys_time',
  'sys_tty_config',
  'mknod',
  'lease',
  'audit_write',
  'audit_control',
  'setfcap',
  'mac_override',
  'mac_admin',
  'syslog',
  'wake_alarm',
  'block_suspend',
  'audit_read',
  'perfmon',
  'bpf',
  'checkpoint_restore',
];

/** A capability by uWSGI name ('net_bind_service') or number (10 or '10'); anything else throws. */
export function capabilityNumber(name: string | number): number {
  const text = String(name).trim();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n > 63) throw new RangeError(`capability number ${n} is out of range (0..63)`);
    return n;
  }
  const n = CAPABILITIES.indexOf(text.toLowerCase());
  if (n < 0) throw new RangeError(`unknown capability '${text}'`);
  return n;
}
