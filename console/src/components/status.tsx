import type { ComponentChildren } from "preact";

/** A message the page shows after a call: errors are announced at once, other news politely. */
export function Notice(props: { kind: "error" | "ok" | "info"; children: ComponentChildren }) {
  return (
    <p class={`notice notice-${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </p>
  );
}

export function Badge(props: { good: boolean; children: ComponentChildren }) {
  return <span class={`badge ${props.good ? "badge-good" : "badge-bad"}`}>{props.children}</span>;
}
