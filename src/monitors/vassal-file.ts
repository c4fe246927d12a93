// Which directory entries are vassal configs: uWSGI's uwsgi_emperor_is_valid (emperor.c:202).
// Kept local to the monitors until src/config exports its own isVassalFile; then this file should go.

const BUILTIN_EXTENSIONS = ['.xml', '.ini', '.yml', '.yaml', '.js', '.json'];

/** uWSGI also refuses names of 255 characters or more (its instance name buffer is 255 bytes with the NUL). */
const MAX_NAME_LENGTH = 254;

export function isVassalFile(name: string, extraExtensions: readonly string[]): boolean {
  if (name.length > MAX_NAME_LENGTH) return false;
  for (const ext of BUILTIN_EXTENSIONS) if (name.endsWith(ext)) return true;
  // uWSGI matches extra extensions as plain suffixes, with or without a leading dot as the user wrote them
  for (const ext of extraExtensions) if (ext !== '' && name.endsWith(ext)) return true;
  return false;
}
