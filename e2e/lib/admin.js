// Admin Console helpers: the confirmation dialog of destructive actions, ending a session.

import assert from 'node:assert/strict';
import { adminCall } from './harness.js';

/**
 * Waits for the open confirmation dialog to show the server's impact preview, checks it
 * against `impact` (a RegExp), and checks the dialog is a focused, labelled modal.
 */
export async function confirmImpact(page, impact) {
  const dialog = page.getByRole('alertdialog');
  await dialog.waitFor();
  assert.equal(await dialog.getAttribute('aria-modal'), 'true');
  const text = page.locator('#confirm-impact');
  await page.waitForFunction(
    () => !document.querySelector('#confirm-impact')?.textContent.startsWith('Checking'),
  );
  assert.match(await text.innerText(), impact);
  // The safe choice has the focus when the dialog opens.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'confirm-cancel');
}

/**
 * Ends `username`'s live session from the Admin Console's session list through the
 * confirmation dialog (checking it signs out exactly one user in one session), and returns
 * the instant the administrator confirmed.
 */
export async function endSessionFromList(page, username) {
  const row = page.locator(`#sessions tr[data-username="${username}"]`);
  await row.first().waitFor();
  await row.first().locator('button.terminate').click();
  await confirmImpact(page, /This signs out 1 user in 1 session\./);
  const started = Date.now();
  await page.locator('#confirm-run').click();
  return started;
}

/**
 * The stored chunks `seqs` of one recorded tab, as JSON text, through the admin API (which
 * sends them gzip-encoded; the client decodes them). Each download must answer `200`.
 */
export async function recordedChunkTexts(context, server, sessionId, tabId, seqs) {
  const texts = [];
  for (const seq of seqs) {
    const response = await context.request.get(
      `${server.url}/api/admin/recordings/${sessionId}/tabs/${tabId}/chunks/${seq}`,
    );
    assert.equal(response.status(), 200, `chunk ${seq} of tab ${tabId}`);
    texts.push(await response.text());
  }
  return texts;
}

/**
 * `username`'s recorded tab with more than `moreThan` chunks, through the admin API: its
 * session id, its detail (whose chunks must be numbered 0, 1, 2… without a gap) and every
 * stored chunk as JSON text.
 */
export async function recordedTab(context, server, username, moreThan) {
  const sessions = await adminCall(context, server, 'GET', '/api/admin/recordings');
  const own = sessions.find((s) => s.username === username);
  const tab = own?.tabs.find((t) => t.chunks > moreThan);
  assert.ok(tab, `a tab of ${username} with more than ${moreThan} chunks: ${JSON.stringify(sessions)}`);
  const detail = await adminCall(
    context,
    server,
    'GET',
    `/api/admin/recordings/${own.session_id}/tabs/${tab.tab_id}`,
  );
  const seqs = detail.chunks.map((c) => c.seq);
  assert.deepEqual(seqs, detail.chunks.map((_, i) => i));
  const bodies = await recordedChunkTexts(context, server, own.session_id, tab.tab_id, seqs);
  return { sessionId: own.session_id, tab, detail, bodies };
}
