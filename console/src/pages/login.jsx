// The key gate: the console calls the API with a key the person enters, kept in this tab only.
import { useState } from "preact/hooks";
import { Button, ErrorBox } from "../components.jsx";

export function Login({ onKey, problem, busy }) {
  const [key, setKey] = useState("");
  const submit = (event) => {
    event.preventDefault();
    if (key.trim()) onKey(key.trim());
  };
  return (
    <div class="login">
      <form class="login-card" onSubmit={submit}>
        <div class="brand large">
          <span class="logo">dma</span>
          <span class="brand-sub">Durable Managed Agents</span>
        </div>
        <h1>Connect to this server</h1>
        <p class="muted">
          Enter an API key. <code>dma dev</code> prints one when it starts; <code>dma keys create</code> makes
          more. The key stays in this browser tab (session storage) and is sent only to this server.
        </p>
        <label class="field">
          <span class="label">API key</span>
          <input
            type="password"
            name="api-key"
            autocomplete="off"
            placeholder="dma-…"
            value={key}
            onInput={(event) => setKey(event.currentTarget.value)}
            autofocus
          />
        </label>
        <ErrorBox error={problem} />
        <Button kind="primary" type="submit" busy={busy} disabled={!key.trim()}>
          Connect
        </Button>
      </form>
    </div>
  );
}
