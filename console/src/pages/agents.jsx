// Agents: a list, newest first, with a way to create one.
import { useState } from "preact/hooks";
import { Link, useLocation } from "wouter-preact";
import { listAll } from "../api.js";
import { Button, Empty, ErrorBox, Loading, PageHeader, useLoad } from "../components.jsx";
import { ago } from "../format.js";

export function toolSummary(tools = []) {
  if (!tools.length) return "No tools";
  return tools
    .map((tool) => {
      if (tool.type?.startsWith("agent_toolset")) {
        const policy = tool.default_config?.permission_policy?.type;
        return policy === "always_ask" ? "Built-in tools (ask)" : policy === "auto" ? "Built-in tools (auto)" : "Built-in tools";
      }
      if (tool.type === "mcp_toolset") return `MCP: ${tool.mcp_server_name}`;
      return tool.name || tool.type;
    })
    .join(", ");
}

export function AgentsPage() {
  const [archived, setArchived] = useState(false);
  const [, navigate] = useLocation();
  const agents = useLoad((signal) => listAll("/v1/agents", { limit: 100, include_archived: archived }, 1000, signal), [
    archived,
  ]);
  return (
    <section>
      <PageHeader title="Agents" subtitle="Model, instructions and tools. Every change is a new version.">
        <label class="toggle">
          <input type="checkbox" checked={archived} onChange={(event) => setArchived(event.currentTarget.checked)} />
          Show archived
        </label>
        <Button kind="primary" onClick={() => navigate("/agents/new")}>
          New agent
        </Button>
      </PageHeader>
      <ErrorBox error={agents.error} onRetry={agents.reload} />
      {agents.data === undefined && !agents.error && <Loading />}
      {agents.data?.length === 0 && (
        <Empty
          title="No agents yet"
          action={
            <Button kind="primary" onClick={() => navigate("/agents/new")}>
              Create your first agent
            </Button>
          }
        >
          An agent is a model with instructions and tools. Try the model <code>scripted</code>: it answers offline,
          with no provider key. From a terminal: <code>dma agents apply -f examples/</code>.
        </Empty>
      )}
      {agents.data?.length > 0 && (
        <div class="card flush">
          <table class="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Model</th>
                <th>Tools</th>
                <th class="num">Version</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {agents.data.map((agent) => (
                <tr key={agent.id} class="clickable" onClick={() => navigate(`/agents/${agent.id}`)}>
                  <td>
                    <Link href={`/agents/${agent.id}`} class="strong">
                      {agent.name}
                    </Link>
                    {agent.archived_at && <span class="tag">archived</span>}
                    {agent.description && <div class="muted small clamp">{agent.description}</div>}
                  </td>
                  <td>
                    <code>{agent.model.id}</code>
                  </td>
                  <td class="muted">{toolSummary(agent.tools)}</td>
                  <td class="num">v{agent.version}</td>
                  <td class="muted" title={agent.updated_at}>
                    {ago(agent.updated_at)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
