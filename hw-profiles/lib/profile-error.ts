/** A profile file that cannot be used: names the file and the field. */
export class ProfileError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    reason: string,
  ) {
    super(`${file}: ${field}: ${reason}`);
    this.name = 'ProfileError';
  }
}
