import { compileGlob } from "../auth/identity.js";
import type { RouteSettings } from "../config/schema.js";

/** Where a call goes: a back end, the read-only fallbacks after it, and whether writes are copied to them. */
export interface Placement<B> {
  backend: B;
  fallback: readonly B[];
  dualWrite: boolean;
}

interface CompiledRoute<B> {
  names: readonly RegExp[] | undefined;
  virtualKeys: boolean | undefined;
  teams: ReadonlySet<string> | undefined;
  placement: Placement<B>;
}

/**
 * `secretgate.routes`, compiled once at start-up: the first route whose conditions all hold
 * places a call; an omitted condition holds for every call; no match places it on the default.
 * Matching allocates nothing: every placement is made here.
 */
export class Routes<B> {
  private readonly routes: readonly CompiledRoute<B>[];

  constructor(
    routes: readonly RouteSettings[],
    backendNamed: (name: string) => B,
    /** The default back end's placement: no fallback. */
    private readonly defaultPlacement: Placement<B>,
  ) {
    this.routes = routes.map((route) => ({
      names: route.names?.map(compileGlob),
      virtualKeys: route.virtual_keys,
      teams: route.teams ? new Set(route.teams) : undefined,
      placement: {
        backend: backendNamed(route.backend),
        fallback: route.fallback.map(backendNamed),
        dualWrite: route.mode === "dual_write",
      },
    }));
  }

  /**
   * The placement of a call for `name` (as the caller wrote it, without a virtual-key prefix,
   * which belongs to the back end chosen), whether it is a virtual key, and its team ("" for none).
   */
  place(name: string, virtualKey: boolean, teamId: string): Placement<B> {
    const { routes } = this;
    for (let index = 0; index < routes.length; index++) {
      const route = routes[index]!;
      if (route.virtualKeys !== undefined && route.virtualKeys !== virtualKey) continue;
      if (route.teams !== undefined && !route.teams.has(teamId)) continue;
      if (route.names !== undefined && !route.names.some((pattern) => pattern.test(name))) continue;
      return route.placement;
    }
    return this.defaultPlacement;
  }

  /** Every distinct placement a route makes (dual-write checks at start-up). */
  get placements(): readonly Placement<B>[] {
    return this.routes.map((route) => route.placement);
  }
}
