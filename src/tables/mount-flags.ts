// mount(2)/umount2(2) flag words as uWSGI's hooks write them ('bind,rec,ro'): a leaf table.

const MOUNT_FLAGS: Record<string, number> = {
  rdonly: 1,
  readonly: 1,
  ro: 1,
  nosuid: 2,
  nodev: 4,
  noexec: 8,
  sync: 16,
  remount: 32,
  mandlock: 64,
  dirsync: 128,
  noatime: 1024,
  bind: 4096,
  move: 8192,
  rec: 16384,
  recursive: 16384,
  unbindable: 1 << 17,
  private: 1 << 18,
  slave: 1 << 19,
  shared: 1 << 20,
};
const UMOUNT_FLAGS: Record<string, number> = { force: 1, detach: 2 };

/** uWSGI's comma list of mount flag words ('bind,rec,ro'); an unknown word throws an Error naming it. */
export function parseMountFlags(words: string): { mountFlags: number; umountFlags: number } {
  let mountFlags = 0;
  let umountFlags = 0;
  for (const raw of words.split(',')) {
    const word = raw.trim();
    if (word === '') continue;
    if (Object.hasOwn(MOUNT_FLAGS, word)) mountFlags |= MOUNT_FLAGS[word];
    else if (Object.hasOwn(UMOUNT_FLAGS, word)) umountFlags |= UMOUNT_FLAGS[word];
    else throw new Error(`unknown mount flag '${word}'`);
  }
  return { mountFlags, umountFlags };
}
