// The console's frame: the key gate, the sidebar and the routes.
import { createContext } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import { Link, Redirect, Route, Router, Switch, useRoute } from "wouter-preact";
import { ApiError, get, keyFromFragment, storeKey, storedKey } from "./api.js";
import { Loading } from "./components.jsx";
import { Login } from "./pages/login.jsx";
import { AgentsPage } from "./pages/agents.jsx";
import { AgentPage } from "./pages/agent.jsx";
import { EnvironmentsPage } from "./pages/environments.jsx";
import { SessionsPage } from "./pages/sessions.jsx";
import { SessionPage } from "./pages/session.jsx";
import { KeysPage } from "./pages/keys.jsx";

// What /v1/dma/info says about the server: version, Temporal Web UI address and namespace.
const ServerContext = createContext({ info: null, signOut: () => {} });
export const useServer = () => useContext(ServerContext);

export function App() {
  const [info, setInfo] = useState(null);
  const [checking, setChecking] = useState(true);
  const [problem, setProblem] = useState(null);

  async function connect(key) {
    if (key !== undefined) storeKey(key);
    setChecking(true);
    setProblem(null);
    try {
      setInfo(await get("/v1/dma/info"));
    } catch (error) {
      setInfo(null);
      if (key !== undefined || storedKey()) setProblem(error);
      if (error instanceof ApiError && error.status === 401) storeKey("");
    } finally {
      setChecking(false);
    }
  }

  useEffect(() => {
    const fromFragment = keyFromFragment();
    connect(fromFragment ?? undefined);
  }, []);

  const signOut = () => {
    storeKey("");
    setInfo(null);
  };

  if (checking && !info) return <Loading label="Connecting to dma…" />;
  if (!info) return <Login onKey={connect} problem={problem} busy={checking} />;
  return (
    <ServerContext.Provider value={{ info, signOut }}>
      <Router base="/console">
        <div class="shell">
          <Sidebar />
          <main class="content">
            <Switch>
              <Route path="/">
                <Redirect to="/sessions" />
              </Route>
              <Route path="/sessions" component={SessionsPage} />
              <Route path="/sessions/:id">{(params) => <SessionPage id={params.id} />}</Route>
              <Route path="/agents" component={AgentsPage} />
              <Route path="/agents/new">{() => <AgentPage id={null} />}</Route>
              <Route path="/agents/:id">{(params) => <AgentPage id={params.id} />}</Route>
              <Route path="/environments" component={EnvironmentsPage} />
              <Route path="/keys" component={KeysPage} />
              <Route>
                <div class="empty">
                  <h2>Nothing here</h2>
                  <p>
                    This page does not exist. <Link href="/sessions">Go to sessions</Link>.
                  </p>
                </div>
              </Route>
            </Switch>
          </main>
        </div>
      </Router>
    </ServerContext.Provider>
  );
}

function NavLink({ href, children }) {
  const [exact] = useRoute(href);
  const [nested] = useRoute(`${href}/*`);
  return (
    <Link href={href} class={exact || nested ? "nav-link active" : "nav-link"}>
      {children}
    </Link>
  );
}

function Sidebar() {
  const { info, signOut } = useServer();
  return (
    <nav class="sidebar">
      <div class="brand">
        <span class="logo">dma</span>
        <span class="brand-sub">Durable Managed Agents</span>
      </div>
      <div class="nav">
        <NavLink href="/sessions">Sessions</NavLink>
        <NavLink href="/agents">Agents</NavLink>
        <NavLink href="/environments">Environments</NavLink>
        <NavLink href="/keys">API keys</NavLink>
      </div>
      <div class="sidebar-foot">
        {info.temporal_ui_url && (
          <a class="nav-link external" href={info.temporal_ui_url} target="_blank" rel="noreferrer">
            Temporal UI ↗
          </a>
        )}
        <button class="nav-link as-button" onClick={signOut}>
          Sign out
        </button>
        <span class="version">dma {info.version}</span>
      </div>
    </nav>
  );
}
