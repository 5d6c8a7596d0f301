import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { JSX } from "preact";

/** The parts of a JSON Schema property (draft 2020-12) the form understands. */
export interface PropertySchema {
  type?: string | string[];
  enum?: JsonValue[];
  const?: JsonValue;
  default?: JsonValue;
  description?: string;
  writeOnly?: boolean;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
}

export interface ObjectSchema {
  properties?: Record<string, PropertySchema>;
  required?: string[];
}

type Kind = "text" | "secret" | "number" | "boolean" | "enum" | "json";

/** The keys a team sets, in schema order, without `backend` (chosen apart) and other constants. */
export function editableKeys(schema: ObjectSchema): string[] {
  return Object.entries(schema.properties ?? {})
    .filter(([key, property]) => key !== "backend" && property.const === undefined)
    .map(([key]) => key);
}

function kindOf(property: PropertySchema): Kind {
  if (property.enum) return "enum";
  const type = Array.isArray(property.type) ? property.type.find((candidate) => candidate !== "null") : property.type;
  if (type === "string") return property.writeOnly ? "secret" : "text";
  if (type === "integer" || type === "number") return "number";
  if (type === "boolean") return "boolean";
  return "json";
}

/** What the editor shows for stored settings: text per key, and which credentials are set. */
export function formValues(
  schema: ObjectSchema,
  settings: JsonObject,
): { values: Record<string, string>; setCredentials: Set<string> } {
  const values: Record<string, string> = {};
  const setCredentials = new Set<string>();
  for (const key of editableKeys(schema)) {
    const value = settings[key];
    if (value === undefined) continue;
    const kind = kindOf(schema.properties![key]!);
    if (kind === "secret") setCredentials.add(key);
    else values[key] = kind === "json" ? JSON.stringify(value) : String(value);
  }
  return { values, setCredentials };
}

/**
 * The settings the form's text stands for: empty fields are left out (the back end's default
 * applies); a credential left empty keeps the stored one ("[redacted]" asks the server to);
 * numbers and booleans are typed; anything else is JSON. Text that is not what its type needs is
 * sent as it is, so the server's message names the key.
 */
export function settingsFrom(
  schema: ObjectSchema,
  values: Record<string, string>,
  setCredentials: ReadonlySet<string>,
): { settings: JsonObject; problems: Map<string, string> } {
  const settings: JsonObject = {};
  const problems = new Map<string, string>();
  for (const key of editableKeys(schema)) {
    const property = schema.properties![key]!;
    const text = values[key] ?? "";
    const kind = kindOf(property);
    if (kind === "secret") {
      if (text !== "") settings[key] = text;
      else if (setCredentials.has(key)) settings[key] = "[redacted]";
      continue;
    }
    if (text.trim() === "") continue;
    if (kind === "number") settings[key] = Number.isFinite(Number(text)) ? Number(text) : text;
    else if (kind === "boolean") settings[key] = text === "true";
    else if (kind === "enum") settings[key] = property.enum!.find((option) => String(option) === text) ?? text;
    else if (kind === "json") {
      try {
        settings[key] = JSON.parse(text) as JsonValue;
      } catch {
        problems.set(key, "is not valid JSON");
      }
    } else settings[key] = text;
  }
  return { settings, problems };
}

/** The fields of a JSON Schema object: typed inputs, enums as selects, required marks, defaults shown. */
export function SchemaFields(props: {
  schema: ObjectSchema;
  values: Record<string, string>;
  setCredentials: ReadonlySet<string>;
  errors: ReadonlyMap<string, string>;
  onChange: (key: string, value: string) => void;
}) {
  const required = new Set(props.schema.required ?? []);
  return (
    <>
      {editableKeys(props.schema).map((key) => {
        const property = props.schema.properties![key]!;
        const kind = kindOf(property);
        const id = `setting-${key}`;
        const error = props.errors.get(key);
        const hints = [
          property.description,
          property.default !== undefined ? `Default: ${JSON.stringify(property.default)}` : undefined,
          kind === "json" ? "JSON" : undefined,
          kind === "secret"
            ? `Write-only: ${props.setCredentials.has(key) ? "set" : "not set"}. Type a new value to replace it; leave empty to keep it.`
            : undefined,
        ].filter(Boolean);
        const describedBy =
          [hints.length > 0 ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
        const common = {
          id,
          name: key,
          "aria-invalid": error ? ("true" as const) : undefined,
          "aria-describedby": describedBy,
          required: required.has(key) && !(kind === "secret" && props.setCredentials.has(key)),
        };
        const value = props.values[key] ?? "";
        const onInput = (event: Event) => props.onChange(key, (event.currentTarget as HTMLInputElement).value);
        let input: JSX.Element;
        if (kind === "enum" || kind === "boolean") {
          const options = kind === "enum" ? property.enum!.map(String) : ["true", "false"];
          input = (
            <select {...common} value={value} onChange={onInput}>
              <option value="">(not set)</option>
              {options.map((option) => (
                <option key={option} value={option}>
                  {option}
                </option>
              ))}
            </select>
          );
        } else if (kind === "json") {
          input = <textarea {...common} rows={2} value={value} onInput={onInput} />;
        } else {
          input = (
            <input
              {...common}
              // One element for three input types: preact's types tie `role` to each type, which this input does not set.
              type={(kind === "secret" ? "password" : kind === "number" ? "number" : "text") as "text"}
              autocomplete="off"
              value={value}
              placeholder={
                kind === "secret" && props.setCredentials.has(key)
                  ? "(set; unchanged)"
                  : property.default !== undefined
                    ? String(property.default)
                    : undefined
              }
              minLength={property.minLength}
              maxLength={property.maxLength}
              min={property.minimum}
              max={property.maximum}
              onInput={onInput}
            />
          );
        }
        return (
          <div class={`field ${error ? "field-invalid" : ""}`} key={key}>
            <label for={id}>
              {key}
              {required.has(key) && (
                <span class="required" aria-hidden="true">
                  {" "}
                  *
                </span>
              )}
              {required.has(key) && <span class="visually-hidden"> (required)</span>}
            </label>
            {input}
            {hints.length > 0 && (
              <p class="help" id={`${id}-hint`}>
                {hints.join(" ")}
              </p>
            )}
            {error && (
              <p class="field-error" id={`${id}-error`}>
                {key}: {error}
              </p>
            )}
          </div>
        );
      })}
    </>
  );
}
