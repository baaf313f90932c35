// API keys stored (hashed) by this server: create one (shown once), list, revoke.
import { useState } from "preact/hooks";
import { get, post } from "../api.js";
import { Button, Copy, Empty, ErrorBox, Field, Loading, Modal, PageHeader, useLoad } from "../components.jsx";
import { ago, when } from "../format.js";

export function KeysPage() {
  const keys = useLoad((signal) => get("/v1/dma/api_keys", {}, signal), []);
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState(null);
  const rows = keys.data?.data;

  async function revoke(key) {
    if (!confirm(`Revoke “${key.name || key.id}”? Requests that carry it will be refused.`)) return;
    setError(null);
    try {
      await post(`/v1/dma/api_keys/${key.id}/revoke`);
      keys.reload();
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section>
      <PageHeader
        title="API keys"
        subtitle="Keys this server stores, hashed. Keys set in DMA_API_KEYS (and the dev key) are configuration and not listed."
      >
        <Button kind="primary" onClick={() => setCreating(true)}>
          Create key
        </Button>
      </PageHeader>
      <ErrorBox error={keys.error || error} onRetry={keys.reload} />
      {rows === undefined && !keys.error && <Loading />}
      {rows?.length === 0 && (
        <Empty
          title="No stored keys"
          action={
            <Button kind="primary" onClick={() => setCreating(true)}>
              Create a key
            </Button>
          }
        >
          Give each client or person its own key, so you can revoke one without the others.
        </Empty>
      )}
      {rows?.length > 0 && (
        <div class="card flush">
          <table class="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Id</th>
                <th>Created</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rows.map((key) => (
                <tr key={key.id} class={key.revoked_at ? "dim" : ""}>
                  <td class="strong">{key.name || "—"}</td>
                  <td class="mono small">{key.id}</td>
                  <td class="muted" title={when(key.created_at)}>
                    {ago(key.created_at)}
                  </td>
                  <td>
                    {key.revoked_at ? (
                      <span class="tag bad">revoked {ago(key.revoked_at)}</span>
                    ) : (
                      <span class="tag ok">active</span>
                    )}
                  </td>
                  <td class="num">
                    {!key.revoked_at && (
                      <button class="link danger" onClick={() => revoke(key)}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <NewKey
          onClose={() => {
            setCreating(false);
            keys.reload();
          }}
        />
      )}
    </section>
  );
}

function NewKey({ onClose }) {
  const [name, setName] = useState("");
  const [created, setCreated] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  async function create(event) {
    event?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setCreated(await post("/v1/dma/api_keys", { name: name.trim() }));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal
      title={created ? "Your new key" : "Create an API key"}
      onClose={onClose}
      footer={
        created ? (
          <Button kind="primary" onClick={onClose}>
            Done
          </Button>
        ) : (
          <>
            <Button onClick={onClose}>Cancel</Button>
            <Button kind="primary" busy={busy} onClick={create}>
              Create
            </Button>
          </>
        )
      }
    >
      {created ? (
        <div>
          <p>Copy it now: it is shown only once (the server keeps only its hash).</p>
          <div class="secret">
            <code data-testid="new-key">{created.key}</code>
            <Copy text={created.key} />
          </div>
        </div>
      ) : (
        <form onSubmit={create}>
          <Field label="Name" hint="Who or what uses it, e.g. ci or alice-laptop.">
            <input name="key-name" value={name} onInput={(event) => setName(event.currentTarget.value)} />
          </Field>
          <ErrorBox error={error} />
        </form>
      )}
    </Modal>
  );
}
