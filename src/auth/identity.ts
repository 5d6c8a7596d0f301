import { z } from "zod";

/** What an identity may do (deny by default: an omitted list allows nothing). */
export const rulesSchema = z.strictObject({
  /** Name patterns it may Read (globs over the name after prefixing: `*` any characters, `?` one). */
  read: z.array(z.string().min(1)).default([]),
  /** Name patterns it may Write (and Rotate to). */
  write: z.array(z.string().min(1)).default([]),
  /** Name patterns it may Delete (and Rotate away from). */
  delete: z.array(z.string().min(1)).default([]),
  /**
   * Teams it may act for (`*`: all). A list without `*` binds the identity to those teams: every
   * call must name one of them, so it can never use the global settings.
   */
  teams: z.array(z.string().min(1)).default([]),
  /** May set and read team settings (for the teams it may act for). */
  admin: z.boolean().default(false),
  /**
   * May send team settings with a call (`team_settings`), which can point it at another
   * namespace, vault or project than its teams' stored settings. Admins may anyway.
   */
  inline_team_settings: z.boolean().default(false),
  /**
   * Back ends it may reach, explicitly or through routes and team settings (globs over their names); all by
   * default.
   */
  backends: z.array(z.string().min(1)).default(["*"]),
});

export type Rules = z.infer<typeof rulesSchema>;

/** How an identity proves itself (ListCallers, WhoAmI); never its token or a digest of it. */
export interface IdentityOrigin {
  kind: "token" | "mtls" | "admin_token";
  /** For `mtls`: the certificate field it matches, e.g. `CN=litellm`. */
  certificate?: string;
}

/** A caller the service recognised, with its rules compiled once at start-up. */
export class Identity {
  private readonly read: RegExp[];
  private readonly write: RegExp[];
  private readonly remove: RegExp[];
  private readonly teams: ReadonlySet<string>;
  private readonly backends: RegExp[] | undefined;
  readonly allTeams: boolean;
  readonly admin: boolean;
  readonly mayInlineTeamSettings: boolean;

  constructor(
    readonly name: string,
    /** As configured, for ListCallers and WhoAmI. */
    readonly rules: Rules,
    readonly origin: IdentityOrigin = { kind: "token" },
  ) {
    this.read = rules.read.map(compileGlob);
    this.write = rules.write.map(compileGlob);
    this.remove = rules.delete.map(compileGlob);
    this.teams = new Set(rules.teams);
    this.allTeams = this.teams.has("*");
    this.admin = rules.admin;
    this.mayInlineTeamSettings = rules.inline_team_settings || rules.admin;
    // Undefined for "*", the default: every call asks, and most identities may use every back end.
    this.backends = rules.backends.includes("*") ? undefined : rules.backends.map(compileGlob);
  }

  /** Everything allowed: the admin token and --insecure-no-auth. */
  static unrestricted(name: string): Identity {
    return new Identity(
      name,
      {
        read: ["*"],
        write: ["*"],
        delete: ["*"],
        teams: ["*"],
        admin: true,
        inline_team_settings: true,
        backends: ["*"],
      },
      { kind: "admin_token" },
    );
  }

  mayRead(name: string): boolean {
    return this.read.some((pattern) => pattern.test(name));
  }

  mayWrite(name: string): boolean {
    return this.write.some((pattern) => pattern.test(name));
  }

  mayDelete(name: string): boolean {
    return this.remove.some((pattern) => pattern.test(name));
  }

  /** Whether its calls may reach the back end named `backend` (rules.backends). */
  mayUse(backend: string): boolean {
    return this.backends === undefined || this.backends.some((pattern) => pattern.test(backend));
  }

  /** Whether a call naming `teamId` ("" for none) is within the identity's teams. */
  mayActFor(teamId: string): boolean {
    if (this.allTeams) return true;
    if (teamId === "") return this.teams.size === 0;
    return this.teams.has(teamId);
  }
}

/**
 * A rule's glob (and one of `secretgate.environment.serve`) as a regular expression over the whole name: `*` is any
 * run of characters
 * (`/` included), `?` exactly one character (a code point, so one emoji), everything else
 * itself, case-sensitive. Not picomatch: configured as close as it goes (bash, nobrace, noextglob,
 * nonegate, nobracket, noquantifiers), it still fails 12 rows of test/unit/auth/glob.test.ts — its
 * `?` is one UTF-16 unit and never `/`, `*` stops at a line end, and `\`, `(a|b)`, `a{2}` and `**`
 * keep a meaning we do not document.
 */
export function compileGlob(glob: string): RegExp {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${source}$`, "su");
}
