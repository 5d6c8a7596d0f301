import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { useEffect, useRef, useState } from "preact/hooks";
import type { BackendDescription, TestTeamSettingsResponse } from "../../../gen/secretgate/v1/admin_service_pb.js";
import { editableKeys, formValues, type ObjectSchema, SchemaFields, settingsFrom } from "../components/schema-form.js";
import { Notice } from "../components/status.js";
import { describeError, fieldErrors } from "../errors.js";
import { BASE, followLink } from "../router.js";
import type { Clients } from "../session.js";

type Outcome = { kind: "ok" | "error" | "info"; text: string };

/**
 * One team's settings: a form generated from its back end's team-settings JSON Schema
 * (DescribeBackends), saved with SetTeamSettings, tested with TestTeamSettings (nothing stored),
 * cleared on a second confirming click. The server's validation messages appear by the field
 * they name; credentials are write-only.
 */
export function TeamEditor(props: { clients: Clients; teamId: string }) {
  const { clients, teamId } = props;
  const [backends, setBackends] = useState<BackendDescription[]>();
  const [backend, setBackend] = useState("");
  const [storedBackend, setStoredBackend] = useState(false);
  const [configured, setConfigured] = useState(false);
  const [values, setValues] = useState<Record<string, string>>({});
  const [setCredentials, setSetCredentials] = useState<Set<string>>(new Set());
  const [errors, setErrors] = useState<Map<string, string>>(new Map());
  const [outcome, setOutcome] = useState<Outcome>();
  const [test, setTest] = useState<TestTeamSettingsResponse>();
  const [confirmClear, setConfirmClear] = useState(false);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);

  const schemaOf = (name: string): ObjectSchema =>
    (backends?.find((entry) => entry.name === name)?.teamSettingsSchema ?? {}) as ObjectSchema;

  const load = async () => {
    try {
      const [described, stored] = await Promise.all([
        clients.admin.describeBackends({}),
        clients.secrets.getTeamSettings({ teamId }),
      ]);
      setBackends(described.backends);
      const settings = (stored.settings ?? {}) as JsonObject;
      const home =
        typeof settings.backend === "string"
          ? settings.backend
          : (described.backends.find((entry) => entry.isDefault)?.name ?? "");
      const schema = (described.backends.find((entry) => entry.name === home)?.teamSettingsSchema ??
        {}) as ObjectSchema;
      const shown = formValues(schema, settings);
      setBackend(home);
      setStoredBackend(typeof settings.backend === "string");
      setConfigured(stored.configured);
      setValues(shown.values);
      setSetCredentials(shown.setCredentials);
    } catch (failure) {
      setOutcome({ kind: "error", text: describeError(failure) });
    }
  };
  useEffect(() => void load(), [clients, teamId]);

  /** The settings as the form stands, or undefined (with the problems shown) when they cannot be sent. */
  const currentSettings = (): JsonObject | undefined => {
    const schema = schemaOf(backend);
    const { settings, problems } = settingsFrom(schema, values, setCredentials);
    setErrors(problems);
    if (problems.size > 0) return undefined;
    const isDefault = backends?.find((entry) => entry.name === backend)?.isDefault ?? false;
    return !isDefault || storedBackend ? { backend, ...settings } : settings;
  };

  /** Shows a failed call: validation messages by their fields, anything else above the form. */
  const failed = (failure: unknown, action: string) => {
    const error = ConnectError.from(failure);
    if (error.code === Code.InvalidArgument) {
      const { byKey, other } = fieldErrors(error.rawMessage, editableKeys(schemaOf(backend)));
      setErrors(byKey);
      setOutcome({
        kind: "error",
        text: `${action} failed: ${other.length > 0 ? other.join("; ") : "see the fields marked below."}`,
      });
      const first = [...byKey.keys()][0];
      if (first) form.current?.querySelector<HTMLElement>(`#setting-${first}`)?.focus();
    } else {
      setOutcome({ kind: "error", text: `${action} failed: ${describeError(failure)}` });
    }
  };

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setOutcome(undefined);
    try {
      await action();
    } finally {
      setBusy(false);
    }
  };

  const save = (event: Event) => {
    event.preventDefault();
    const settings = currentSettings();
    if (!settings) return;
    void run(async () => {
      try {
        await clients.secrets.setTeamSettings({ teamId, settings });
        setErrors(new Map());
        await load();
        setOutcome({ kind: "ok", text: "Saved." });
      } catch (failure) {
        failed(failure, "Saving");
      }
    });
  };

  const testConnection = () => {
    const settings = currentSettings();
    if (!settings) return;
    void run(async () => {
      try {
        setTest(await clients.admin.testTeamSettings({ teamId, settings }));
        setErrors(new Map());
      } catch (failure) {
        setTest(undefined);
        failed(failure, "Testing");
      }
    });
  };

  const clear = () => {
    if (!confirmClear) return setConfirmClear(true);
    setConfirmClear(false);
    void run(async () => {
      try {
        await clients.secrets.setTeamSettings({ teamId, settings: {} });
        await load();
        setOutcome({ kind: "ok", text: "Cleared: the team now uses the back end's own settings." });
      } catch (failure) {
        failed(failure, "Clearing");
      }
    });
  };

  const schema = schemaOf(backend);
  return (
    <section aria-labelledby="team-title">
      <p>
        <a href={`${BASE}/teams`} onClick={(event) => followLink(event, "teams")}>
          ← All teams
        </a>
      </p>
      <h1 id="team-title">Team {teamId}</h1>
      <p class="help">
        {configured ? "This team has settings." : "This team has no settings yet: saving creates them."}
      </p>
      {outcome && <Notice kind={outcome.kind}>{outcome.text}</Notice>}
      {backends && (
        <form ref={form} class="card team-form" onSubmit={save}>
          <div class="field">
            <label for="setting-backend">Back end</label>
            <select
              id="setting-backend"
              value={backend}
              onChange={(event) => {
                setBackend(event.currentTarget.value);
                setValues({});
                setSetCredentials(new Set());
                setErrors(new Map());
                setTest(undefined);
              }}
            >
              {backends.map((entry) => (
                <option key={entry.name} value={entry.name}>
                  {entry.name} ({entry.system}){entry.isDefault ? ", default" : ""}
                </option>
              ))}
            </select>
          </div>
          <SchemaFields
            schema={schema}
            values={values}
            setCredentials={setCredentials}
            errors={errors}
            onChange={(key, value) => {
              setValues({ ...values, [key]: value });
              if (errors.has(key)) {
                const rest = new Map(errors);
                rest.delete(key);
                setErrors(rest);
              }
            }}
          />
          <div class="actions">
            <button type="submit" disabled={busy}>
              Save
            </button>
            <button type="button" disabled={busy} onClick={testConnection}>
              Test connection
            </button>
            <button type="button" class="danger" disabled={busy || !configured} onClick={clear}>
              {confirmClear ? "Confirm: clear settings" : "Clear settings"}
            </button>
          </div>
          {test && (
            <Notice kind={test.reachable ? "ok" : "error"}>
              {test.reachable
                ? `Connection works: ${test.backend} answered under these settings.`
                : `Connection failed: ${test.backend} answered ${test.status}: ${test.message}`}
            </Notice>
          )}
        </form>
      )}
    </section>
  );
}
