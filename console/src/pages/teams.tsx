import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useState } from "preact/hooks";
import type { TeamSummary } from "../../../gen/secretgate/v1/admin_service_pb.js";
import { Notice } from "../components/status.js";
import { describeError } from "../errors.js";
import { BASE, followLink, navigate } from "../router.js";
import type { Clients } from "../session.js";

const TEAM_ID = /^[A-Za-z0-9._:@-]{1,256}$/;

/** The teams with settings, a page at a time, and a way to open (or start) any team's settings. */
export function Teams(props: { clients: Clients }) {
  const [teams, setTeams] = useState<TeamSummary[]>();
  const [next, setNext] = useState("");
  const [error, setError] = useState<string>();
  const [teamId, setTeamId] = useState("");
  const [teamIdError, setTeamIdError] = useState<string>();

  const load = async (pageToken: string) => {
    try {
      const page = await props.clients.admin.listTeams({ pageSize: 100, pageToken });
      setTeams((shown) => (pageToken === "" ? page.teams : [...(shown ?? []), ...page.teams]));
      setNext(page.nextPageToken);
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  useEffect(() => void load(""), [props.clients]);

  const open = (event: Event) => {
    event.preventDefault();
    if (!TEAM_ID.test(teamId)) return setTeamIdError("A team id is 1 to 256 letters, digits and -_.:@");
    navigate(`teams/${encodeURIComponent(teamId)}`);
  };

  return (
    <section aria-labelledby="teams-title">
      <h1 id="teams-title">Teams</h1>
      <form class="toolbar" onSubmit={open}>
        <label for="team-id">Team id</label>
        <input
          id="team-id"
          value={teamId}
          aria-invalid={teamIdError ? "true" : undefined}
          aria-describedby={teamIdError ? "team-id-error" : undefined}
          onInput={(event) => {
            setTeamId(event.currentTarget.value);
            setTeamIdError(undefined);
          }}
        />
        <button type="submit">Open or create</button>
        {teamIdError && (
          <p class="field-error" id="team-id-error">
            {teamIdError}
          </p>
        )}
      </form>
      {error && <Notice kind="error">{error}</Notice>}
      {teams && (
        <table>
          <caption>{teams.length} teams with settings</caption>
          <thead>
            <tr>
              <th scope="col">Team</th>
              <th scope="col">Back end</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {teams.map((team) => (
              <tr key={team.teamId}>
                <th scope="row">
                  <a
                    href={`${BASE}/teams/${encodeURIComponent(team.teamId)}`}
                    onClick={(event) => followLink(event, `teams/${encodeURIComponent(team.teamId)}`)}
                  >
                    {team.teamId}
                  </a>
                </th>
                <td>{team.backend}</td>
                <td>{team.updatedAt ? timestampDate(team.updatedAt).toLocaleString() : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next && (
        <button type="button" onClick={() => void load(next)}>
          More teams
        </button>
      )}
    </section>
  );
}
