// The kernel's clone/unshare flags under the names the project meets them by: uWSGI's words (utils.c
// uwsgi_unshare_list, read by `unshare` and `emperor-use-clone`; cgroup is ours), the CLONE_* value the vassal init
// passes to unshare(2), and the namespace name the addon's spawn() takes.

/** The namespaces spawn() can create (the addon's names). */
export type Namespace = 'mount' | 'pid' | 'net' | 'ipc' | 'uts' | 'user' | 'cgroup';

interface CloneFlag {
  words: readonly string[];
  flag: number;
  /** Only the flags that create a namespace have one; files, sysvsem and io are unshare(2)-only. */
  namespace?: Namespace;
}

const CLONE_FLAGS: readonly CloneFlag[] = [
  { words: ['files'], flag: 0x00000400 },
  { words: ['fs', 'ns', 'mount', 'mnt'], flag: 0x00020000, namespace: 'mount' },
  { words: ['sysvsem'], flag: 0x00040000 },
  { words: ['cgroup'], flag: 0x02000000, namespace: 'cgroup' },
  { words: ['uts'], flag: 0x04000000, namespace: 'uts' },
  { words: ['ipc'], flag: 0x08000000, namespace: 'ipc' },
  { words: ['user'], flag: 0x10000000, namespace: 'user' },
  { words: ['pid'], flag: 0x20000000, namespace: 'pid' },
  { words: ['net'], flag: 0x40000000, namespace: 'net' },
  { words: ['io'], flag: 0x80000000 },
];

function rowOf(word: string): CloneFlag | undefined {
  return CLONE_FLAGS.find((r) => r.words.includes(word));
}

export const CLONE_NEWUSER = cloneFlagOf('user') as number;

/** Every word `unshare` knows. */
export const UNSHARE_WORDS: readonly string[] = CLONE_FLAGS.flatMap((r) => r.words);

/** The words that name a namespace spawn() can create (what `emperor-use-clone` takes). */
export const NAMESPACE_WORDS: readonly string[] = CLONE_FLAGS.filter((r) => r.namespace).flatMap((r) => r.words);

/** The CLONE_* flag of an unshare word, undefined for an unknown word. */
export function cloneFlagOf(word: string): number | undefined {
  return rowOf(word)?.flag;
}

/** The addon's namespace for a uWSGI word, undefined for an unknown word or a flag that is not a namespace. */
export function namespaceOf(word: string): Namespace | undefined {
  return rowOf(word)?.namespace;
}
