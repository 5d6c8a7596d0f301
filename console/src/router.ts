import { useEffect, useState } from "preact/hooks";

export const BASE = "/console";

/** The pages, each a bookmarkable URL under /console/. */
export const PAGES = [
  { path: "overview", title: "Overview", admin: true },
  { path: "secrets", title: "Secrets", admin: false },
  { path: "teams", title: "Teams", admin: true },
  { path: "audit", title: "Audit", admin: true },
  { path: "callers", title: "Callers", admin: true },
] as const;

/** The path below /console/, without slashes at either end: "teams/team-a". */
export function currentRoute(): string {
  const path = location.pathname.startsWith(`${BASE}/`) ? location.pathname.slice(BASE.length + 1) : "";
  return path.replace(/\/+$/, "");
}

const listeners = new Set<() => void>();
addEventListener("popstate", () => {
  for (const listener of listeners) listener();
});

export function navigate(route: string): void {
  history.pushState(null, "", `${BASE}/${route}`);
  for (const listener of listeners) listener();
}

export function useRoute(): string {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    listeners.add(update);
    return () => listeners.delete(update);
  }, []);
  return route;
}

/** A same-origin link that navigates without reloading (and still opens in a new tab when asked). */
export function followLink(event: MouseEvent, route: string): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)
    return;
  event.preventDefault();
  navigate(route);
}
