// Admin Console helpers: the confirmation dialog of destructive actions.

import assert from 'node:assert/strict';

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
