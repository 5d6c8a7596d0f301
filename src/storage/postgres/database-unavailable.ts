/** The PostgreSQL database (DATABASE_URL) could not be opened at start-up. Its own module: main loads it without loading pg. */
export class DatabaseUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseUnavailableError";
  }
}
