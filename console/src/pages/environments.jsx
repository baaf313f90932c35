// Environments: where a session's tools run (its sandbox and network). List, create, archive, delete.
import { useState } from "preact/hooks";
import { del, listAll, post } from "../api.js";
import { Button, Empty, ErrorBox, Field, Loading, Modal, PageHeader, useLoad } from "../components.jsx";
import { ago } from "../format.js";

function networking(environment) {
  const config = environment.config || {};
  if (config.type === "self_hosted") return "Self-hosted";
  const network = config.networking?.type;
  if (network === "limited") {
    const hosts = config.networking.allowed_hosts || [];
    return hosts.length ? `Limited: ${hosts.join(", ")}` : "No network";
  }
  return "Unrestricted";
}

export function EnvironmentsPage() {
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState(null);
  const environments = useLoad((signal) => listAll("/v1/environments", { limit: 100 }, 1000, signal), []);

  async function act(action) {
    setError(null);
    try {
      await action();
      environments.reload();
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section>
      <PageHeader title="Environments" subtitle="Where a session's tools run: its sandbox, network and packages.">
        <Button kind="primary" onClick={() => setCreating(true)}>
          New environment
        </Button>
      </PageHeader>
      <ErrorBox error={environments.error || error} onRetry={environments.reload} />
      {environments.data === undefined && !environments.error && <Loading />}
      {environments.data?.length === 0 && (
        <Empty
          title="No environments yet"
          action={
            <Button kind="primary" onClick={() => setCreating(true)}>
              Create an environment
            </Button>
          }
        >
          Every session runs in an environment. One with the defaults is enough to start.
        </Empty>
      )}
      {environments.data?.length > 0 && (
        <div class="card flush">
          <table class="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Network</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {environments.data.map((environment) => (
                <tr key={environment.id}>
                  <td>
                    <span class="strong">{environment.name}</span>
                    <div class="muted small mono">{environment.id}</div>
                    {environment.description && <div class="muted small">{environment.description}</div>}
                  </td>
                  <td>{networking(environment)}</td>
                  <td class="muted">{ago(environment.created_at)}</td>
                  <td class="num row-actions">
                    <button class="link" onClick={() => act(() => post(`/v1/environments/${environment.id}/archive`))}>
                      Archive
                    </button>
                    <button
                      class="link danger"
                      onClick={() =>
                        confirm(`Delete the environment “${environment.name}”?`) &&
                        act(() => del(`/v1/environments/${environment.id}`))
                      }
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <NewEnvironment
          onClose={() => setCreating(false)}
          onCreated={() => {
            setCreating(false);
            environments.reload();
          }}
        />
      )}
    </section>
  );
}

function NewEnvironment({ onClose, onCreated }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [network, setNetwork] = useState("unrestricted");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  async function create(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const networking = network === "none" ? { type: "limited", allowed_hosts: [] } : { type: "unrestricted" };
      await post("/v1/environments", {
        name: name.trim(),
        description: description.trim() || undefined,
        config: { type: "cloud", networking },
      });
      onCreated();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal
      title="New environment"
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button kind="primary" busy={busy} disabled={!name.trim()} onClick={create}>
            Create
          </Button>
        </>
      }
    >
      <form onSubmit={create}>
        <Field label="Name">
          <input name="name" value={name} onInput={(event) => setName(event.currentTarget.value)} required />
        </Field>
        <Field label="Description">
          <input value={description} onInput={(event) => setDescription(event.currentTarget.value)} />
        </Field>
        <Field label="Network" hint="What the sandbox may reach (the host and private ranges never).">
          <select value={network} onChange={(event) => setNetwork(event.currentTarget.value)}>
            <option value="unrestricted">Unrestricted</option>
            <option value="none">None</option>
          </select>
        </Field>
        <ErrorBox error={error} />
      </form>
    </Modal>
  );
}
