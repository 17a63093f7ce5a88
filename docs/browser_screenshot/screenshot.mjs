// Screenshot of Neo4j Browser showing the preference subgraph GraphMem stored for one user.
//
//   node screenshot.mjs [BROWSER_URL] [OUTPUT_PNG]
//
// Drives a real Neo4j Browser (the one the server serves on its HTTP port) with playwright-core
// and the system Chromium: connects, sets `:param user => '<user>'`, styles the captions, runs
// the query and saves a 1600x1000 screenshot once the force layout has settled.
//
// Environment (all optional):
//   NEO4J_BROWSER_URL        Browser URL (default http://127.0.0.1:7474/browser/; argv[2] wins)
//   GRAPHMEM_NEO4J_URI       Bolt URL typed into the connect form (default bolt://127.0.0.1:7687)
//   GRAPHMEM_NEO4J_USER      username (default neo4j)
//   GRAPHMEM_NEO4J_PASSWORD  password (default graphmem-local)
//   GRAPHMEM_USER            GraphMem user whose preferences are shown (default prefeval-demo)
//   GRAPHMEM_QUERY           "episodes" (default): preferences + ABOUT entities + DERIVED_FROM
//                            episodes; "preferences": cypher/explore/preferences.cypher as is
//   CHROMIUM_PATH            browser binary (default /usr/bin/chromium)
//   FRAME_FULLSCREEN         "0" keeps the result frame in the stream instead of fullscreen
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');

const browserUrl = process.argv[2] || process.env.NEO4J_BROWSER_URL || 'http://127.0.0.1:7474/browser/';
const outPath = resolve(process.argv[3] || resolve(repo, 'docs/img/prefeval-preference-subgraph.png'));
const boltUrl = process.env.GRAPHMEM_NEO4J_URI || 'bolt://127.0.0.1:7687';
const username = process.env.GRAPHMEM_NEO4J_USER || 'neo4j';
const password = process.env.GRAPHMEM_NEO4J_PASSWORD || 'graphmem-local';
const user = process.env.GRAPHMEM_USER || 'prefeval-demo';
const variant = process.env.GRAPHMEM_QUERY || 'episodes';
const fullscreen = process.env.FRAME_FULLSCREEN !== '0';

// One line per statement: the editor is typed into, and in a one-line editor Enter would run it.
function oneLine(cypher) {
  return cypher
    .split('\n')
    .filter((l) => !l.trim().startsWith('//'))
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}

const queries = {
  preferences: oneLine(readFileSync(resolve(repo, 'cypher/explore/preferences.cypher'), 'utf8')),
  episodes: oneLine(`
    MATCH (p:Preference {owner: $user})
    OPTIONAL MATCH (p)-[a:ABOUT]->(n:Entity)
    OPTIONAL MATCH (p)-[d:DERIVED_FROM]->(e:Episode)
    RETURN p, a, n, d, e`),
};
const query = queries[variant];
if (!query) throw new Error(`GRAPHMEM_QUERY must be one of ${Object.keys(queries).join(', ')}`);

// Captions: the Browser's automatic caption for a MemCube is its first property (heat, "0.0").
// A Preference node also carries the MemCube and Plaintext labels, so those get the same style.
const pref = "color: #57C7E3; border-color: #23B3D7; text-color-internal: #2A2C34; diameter: 80px; font-size: 10px; caption: '{topic}';";
const grass = [
  "node { diameter: 50px; color: #A5ABB6; border-color: #9AA1AC; border-width: 2px; text-color-internal: #FFFFFF; font-size: 10px; }",
  "relationship { color: #A5ABB6; shaft-width: 1.5px; font-size: 9px; padding: 3px; text-color-external: #000000; text-color-internal: #FFFFFF; caption: '<type>'; }",
  `node.MemCube { ${pref} }`,
  `node.Plaintext { ${pref} }`,
  `node.Preference { ${pref} }`,
  "node.Entity { color: #F16667; border-color: #EB2728; text-color-internal: #FFFFFF; diameter: 80px; font-size: 10px; caption: '{name}'; }",
  "node.Episode { color: #FFD86E; border-color: #EDBA39; text-color-internal: #2A2C34; diameter: 80px; font-size: 9px; caption: '{content}'; }",
].join(' ');

const launchArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: launchArgs,
});
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(browserUrl, { waitUntil: 'networkidle' });

  // Connect form (":server connect" frame).
  const [scheme, address] = boltUrl.split('://');
  await page.selectOption('[data-testid=bolt-scheme-select]', `${scheme}://`);
  await page.fill('[data-testid=boltaddress]', address);
  await page.fill('[data-testid=username]', username);
  await page.fill('[data-testid=password]', password);
  await page.click('[data-testid=connect]');
  await page.waitForSelector('text=You are connected as user', { timeout: 30000 });

  // The usage-statistics banner, if shown: its close "x" is the banner's last (empty) span.
  const banner = page.locator('div:has(> span:has-text("To help make Neo4j Browser better")) > span:last-child');
  if (await banner.count()) await banner.first().click().catch(() => {});

  const editor = page.locator('[data-testid=activeEditor] .monaco-editor').first();
  const squash = (t) => t.replace(/\s/g, '');
  async function run(command, settle = 1000) {
    // Type into the editor, checking what landed there (the editor can drop input while the
    // previous command is still being handled).
    for (let attempt = 1; ; attempt++) {
      await editor.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
      await page.keyboard.insertText(command);
      await page.waitForTimeout(300);
      const typed = await editor.locator('.view-lines').innerText();
      if (squash(typed) === squash(command)) break;
      if (attempt === 5) {
        throw new Error(`editor holds ${JSON.stringify(typed)}, expected ${JSON.stringify(command)}`);
      }
      await page.waitForTimeout(1000);
    }
    await page.click('[data-testid=editor-Run]');
    await page.waitForTimeout(settle);
  }

  await run(':config codeFontLigatures: false');
  await run(`:style ${grass}`);
  await run(':clear');
  await run(`:param user => '${user}'`);
  await run(query, 0);

  // The newest frame is on top; wait for its graph to draw nodes, then for the layout to settle.
  const frame = page.locator('[data-testid=frame]').first();
  await frame.locator('svg g.node').first().waitFor({ timeout: 30000 });
  const nodes = await frame.locator('svg g.node').count();
  const rels = await frame.locator('svg g.relationship').count();
  console.log(`graph drawn: ${nodes} nodes, ${rels} relationships`);
  if (fullscreen) {
    await frame.locator('button[title^="Fullscreen"]').first().click();
  }
  await page.waitForTimeout(4000);
  // Zoom to fit, now that the frame has its final size.
  const fit = frame.locator('button[aria-label="zoom-to-fit"]');
  if (await fit.count()) await fit.first().click();
  await page.waitForTimeout(1500);
  // Zoom-to-fit fits the graph to the whole canvas, part of which lies under the Overview panel.
  // If it reaches under the panel, zoom out (ctrl+wheel) just enough to clear it.
  const measure = () => page.evaluate(() => {
    const frameEl = document.querySelector('[data-testid=frame]');
    const svg = frameEl.querySelector('svg.neod3viz');
    const canvas = svg.getBoundingClientRect();
    const panel = frameEl.querySelector('[data-testid=vizInspector]');
    const right = panel ? Math.min(canvas.right, panel.getBoundingClientRect().left) : canvas.right;
    const nodes = [...svg.querySelectorAll('g.node')].map((n) => n.getBoundingClientRect());
    return {
      left: canvas.left, right, top: canvas.top, bottom: canvas.bottom,
      maxRight: Math.max(...nodes.map((r) => r.right)),
      minLeft: Math.min(...nodes.map((r) => r.left)),
    };
  });
  const margin = 25;
  let perDelta = 0.02; // log2 of the zoom per unit of wheel delta; re-measured after each step
  for (let i = 0; i < 8; i++) {
    const box = await measure();
    if (box.maxRight <= box.right - margin) break;
    // Zoom by `factor` about x = ax; ax is picked so the graph ends up centred in the visible part.
    const factor = Math.min(0.98, (box.right - box.left - 2 * margin) / (box.maxRight - box.minLeft));
    const centred = (box.left + box.right - factor * (box.minLeft + box.maxRight)) / (2 * (1 - factor));
    const ax = Math.max(box.left + 5, Math.min(box.right - 5, centred));
    const delta = -Math.log2(factor) / perDelta;
    console.log(`zooming out by ${factor.toFixed(3)} to clear the Overview panel`);
    await page.mouse.move(ax, (box.top + box.bottom) / 2);
    await page.keyboard.down('Control');
    await page.mouse.wheel(0, delta);
    await page.keyboard.up('Control');
    await page.waitForTimeout(800);
    const after = await measure();
    const ratio = (after.maxRight - after.minLeft) / (box.maxRight - box.minLeft);
    if (ratio > 0 && ratio < 0.999) perDelta = -Math.log2(ratio) / delta;
  }
  // Centre the graph in the visible part of the canvas: drag from an empty spot of the background.
  const pan = await page.evaluate(() => {
    const frameEl = document.querySelector('[data-testid=frame]');
    const svg = frameEl.querySelector('svg.neod3viz');
    const canvas = svg.getBoundingClientRect();
    const panel = frameEl.querySelector('[data-testid=vizInspector]');
    const right = panel ? Math.min(canvas.right, panel.getBoundingClientRect().left) : canvas.right;
    const nodes = [...svg.querySelectorAll('g.node')].map((n) => n.getBoundingClientRect());
    const items = nodes.concat([...svg.querySelectorAll('g.relationship')].map((n) => n.getBoundingClientRect()));
    const minLeft = Math.min(...nodes.map((r) => r.left));
    const maxRight = Math.max(...nodes.map((r) => r.right));
    const minTop = Math.min(...nodes.map((r) => r.top));
    const maxBottom = Math.max(...nodes.map((r) => r.bottom));
    const dx = (canvas.left + right) / 2 - (minLeft + maxRight) / 2;
    const dy = (canvas.top + canvas.bottom) / 2 - (minTop + maxBottom) / 2;
    const pad = 15;
    for (let y = canvas.top + 40; y < canvas.bottom - 40; y += 20) {
      for (let x = canvas.left + 40; x < right - 40; x += 20) {
        const free = items.every((r) => x < r.left - pad || x > r.right + pad || y < r.top - pad || y > r.bottom + pad);
        if (free) return { x, y, dx, dy };
      }
    }
    return null;
  });
  if (pan && (Math.abs(pan.dx) > 10 || Math.abs(pan.dy) > 10)) {
    await page.mouse.move(pan.x, pan.y);
    await page.mouse.down();
    await page.mouse.move(pan.x + pan.dx, pan.y + pan.dy, { steps: 15 });
    await page.mouse.up();
    await page.waitForTimeout(800);
  }
  await page.mouse.move(0, 999); // no hover highlight

  mkdirSync(dirname(outPath), { recursive: true });
  await page.screenshot({ path: outPath });
  console.log(`wrote ${outPath} (query: ${variant})`);
} finally {
  await browser.close();
}
