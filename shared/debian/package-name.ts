// Debian policy §5.6.1: at least two characters, lowercase letters, digits and
// + - . , starting with a letter or digit. Such a name can never be read as an
// option (no leading dash) nor mean anything to a shell or a glob.
const packageName = /^[a-z0-9][a-z0-9+.-]+$/;

/** True for a valid Debian binary package name (and nothing longer than 128 characters). */
export function isDebianPackageName(value: string): boolean {
  return value.length <= 128 && packageName.test(value);
}
