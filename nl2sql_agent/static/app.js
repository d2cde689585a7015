// The agent's page: plain JS, no framework, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
let conversationId = sessionStorage.getItem("nl2sql.conversation") || null;
let current = null; // the answer on screen

function headers(extra = {}) {
  const key = sessionStorage.getItem("nl2sql.apikey");
  return key ? { ...extra, "X-API-Key": key } : extra;
}

async function api(path, body, accept = "application/json") {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: headers({ "Content-Type": "application/json", Accept: accept }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) $("keybox").hidden = false;
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response;
}

function say(text, isError = false) {
  $("message").textContent = text || "";
  $("message").className = isError ? "error" : "";
}

function stepLine(step) {
  const li = document.createElement("li");
  let text = step.name + (step.attempt ? ` #${step.attempt}` : "") + ` — ${step.elapsed_ms.toFixed(1)} ms`;
  const d = step.detail || {};
  if (step.name === "retrieve") text += ` — ${d.tables.length} table(s), ${d.how}`;
  if (step.name === "validate" && !step.ok) text += ` — ${d.layer}: ${d.reason}`;
  if (step.name === "execute") text += step.ok ? ` — ${d.rows} row(s)` : ` — ${d.error_kind}`;
  if (step.name === "check" && !step.ok) text += ` — ${d.problem}`;
  if (step.name === "chart") text += ` — ${d.kind}`;
  li.textContent = text;
  if (!step.ok) li.className = "bad";
  $("steps").appendChild(li);
}

function renderTable(answer) {
  const thead = $("result").querySelector("thead");
  const tbody = $("result").querySelector("tbody");
  thead.replaceChildren();
  tbody.replaceChildren();
  const head = document.createElement("tr");
  for (const c of answer.columns) {
    const th = document.createElement("th");
    th.textContent = c;
    head.appendChild(th);
  }
  thead.appendChild(head);
  const fragment = document.createDocumentFragment();
  for (const row of answer.rows) {
    const tr = document.createElement("tr");
    for (const v of row) {
      const td = document.createElement("td");
      if (v === null) { td.textContent = "NULL"; td.className = "null"; }
      else { td.textContent = String(v); if (typeof v === "number") td.className = "num"; }
      tr.appendChild(td);
    }
    fragment.appendChild(tr);
  }
  tbody.appendChild(fragment);
  let note = `${answer.row_count.toLocaleString()} row(s)`;
  if (answer.rows_shown < answer.row_count) {
    note = `Showing the first ${answer.rows_shown.toLocaleString()} of ${answer.row_count.toLocaleString()} rows — download the CSV for all of them`;
  }
  if (answer.truncated) note += ` (the query had more rows than the row cap; only the first ${answer.row_count.toLocaleString()} were fetched)`;
  $("rows-note").textContent = note;
}

function renderChart(kind, svg, options) {
  const select = $("chart-kind");
  if (options) {
    select.replaceChildren();
    for (const o of options) {
      const opt = document.createElement("option");
      opt.value = o;
      opt.textContent = o;
      select.appendChild(opt);
    }
  }
  select.value = kind;
  $("chart-box").hidden = !svg;
  $("chart").src = svg || "";
}

function show(answer) {
  current = answer;
  $("answer").hidden = false;
  $("sql").value = answer.sql || "";
  const repairs = answer.repairs ? `, ${answer.repairs} repair(s)` : "";
  $("attempts").textContent = `${answer.attempts.length} attempt(s)${repairs} · ${answer.elapsed_ms.toFixed(0)} ms`;
  $("summary").textContent = answer.summary || "";
  $("feedback-status").textContent = "";
  if (answer.status === "failed") say(answer.message, true);
  else if (answer.status === "clarify") say(answer.message);
  else say(answer.message || "");
  const hasResult = answer.status === "ok" || answer.status === "empty";
  $("table-box").hidden = !hasResult;
  $("rows-note").hidden = !hasResult;
  renderTable(answer);
  renderChart(answer.chart_kind, hasResult ? answer.svg : null,
    answer.chart_options.length ? answer.chart_options : ["table"]);
}

function remember(answer) {
  if (answer.conversation_id && answer.conversation_id !== conversationId) {
    conversationId = answer.conversation_id;
    sessionStorage.setItem("nl2sql.conversation", conversationId);
  }
  const li = document.createElement("li");
  const edited = answer.attempts.length && answer.attempts[0].source === "user";
  li.textContent = (edited ? "(edited SQL) " : "") + (answer.question || "");
  li.title = answer.sql || "";
  li.addEventListener("click", () => show(answer));
  $("history").appendChild(li);
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("ask").disabled = true;
  $("steps").replaceChildren();
  say("working…");
  try {
    const response = await api(
      "/api/ask", { question, conversation_id: conversationId }, "text/event-stream",
    );
    // The answer streams as server-sent events: "step" lines, then one "answer".
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const kind = (block.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "null");
        if (kind === "step") stepLine(data);
        else if (kind === "answer") { show(data); remember(data); }
        else if (kind === "error") say(data.detail, true);
      }
    }
  } catch (e) {
    say(e.message, true);
  } finally {
    $("ask").disabled = false;
  }
}

async function postJSON(path, body) {
  return (await api(path, body)).json();
}

async function runEdited() {
  const sql = $("sql").value.trim();
  if (!sql) return;
  $("steps").replaceChildren();
  try {
    const answer = await postJSON("/api/run", {
      sql, question: current ? current.question : "", conversation_id: conversationId,
    });
    for (const step of answer.trace) stepLine(step);
    show(answer);
    remember(answer);
  } catch (e) { say(e.message, true); }
}

async function switchChart() {
  if (!current) return;
  try {
    const out = await postJSON("/api/chart", { answer_id: current.id, kind: $("chart-kind").value });
    current.chart_kind = out.chart_kind;
    current.svg = out.svg;
    renderChart(out.chart_kind, out.svg);
  } catch (e) { say(e.message, true); }
}

async function downloadCSV() {
  if (!current) return;
  try {
    const response = await api(`/api/answers/${current.id}.csv`);
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `answer-${current.id}.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { say(e.message, true); }
}

async function sendFeedback(verdict, correctedSql) {
  if (!current) return;
  try {
    const body = { answer_id: current.id, verdict };
    if (correctedSql) body.corrected_sql = correctedSql;
    const out = await postJSON("/api/feedback", body);
    $("feedback-status").textContent = `feedback #${out.id} stored (${out.verdict})`;
  } catch (e) { $("feedback-status").textContent = e.message; }
}

async function loadInfo() {
  try {
    const info = await (await api("/api/health")).json();
    $("info").textContent = `${info.database} (${info.dialect}, ${info.tables} tables) · model ${info.model}`;
    if (info.auth && !sessionStorage.getItem("nl2sql.apikey")) $("keybox").hidden = false;
  } catch (e) { $("info").textContent = e.message; }
}

document.addEventListener("DOMContentLoaded", () => {
  $("ask-form").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask-form").requestSubmit(); }
  });
  $("run").addEventListener("click", runEdited);
  $("chart-kind").addEventListener("change", switchChart);
  $("csv").addEventListener("click", downloadCSV);
  $("up").addEventListener("click", () => sendFeedback("up"));
  $("down").addEventListener("click", () => sendFeedback("down"));
  $("correct").addEventListener("click", () => sendFeedback("down", $("sql").value));
  $("save-key").addEventListener("click", () => {
    sessionStorage.setItem("nl2sql.apikey", $("apikey").value);
    $("keybox").hidden = true;
    loadInfo();
  });
  $("new-conversation").addEventListener("click", () => {
    conversationId = null;
    sessionStorage.removeItem("nl2sql.conversation");
    $("history").replaceChildren();
    $("answer").hidden = true;
    $("steps").replaceChildren();
    say("");
  });
  loadInfo();
});
