// The react-idle-timer page the bench compares the guard with: a session timeout set up the
// way the library documents it, with crossTab and syncTimers on.
//
// Query parameters (the harness sets them to the reference server's policy):
//   timeout  inactivity timeout in ms (default 15 min)
//   prompt   how long before the timeout the warning shows, in ms (default 60 s)
//
// Behaviour matched to the guard's, using only the library's own API:
// - the warning is a [role=alertdialog] shown from onPrompt and hidden from onActive;
// - activity while the warning shows closes it: react-idle-timer ignores activity once it has
//   prompted, so onAction calls activate(), which crossTab replays in every tab;
// - idle and sign-out end the session in every tab and replace the page with
//   /login?reason=... (location.replace, as the guard does);
//   sign-out is sent to the other tabs with message() (crossTab's messaging) before leaving.
import { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useIdleTimer } from 'react-idle-timer';
import { Content } from './content.jsx';

const params = new URLSearchParams(location.search);
const timeout = Number(params.get('timeout') || 15 * 60 * 1000);
const promptBeforeIdle = Number(params.get('prompt') || 60 * 1000);

function leave(reason) {
  location.replace(`/login?reason=${reason}&return_to=${encodeURIComponent(location.pathname)}`);
}

function App() {
  const [prompted, setPrompted] = useState(false);
  const timer = useIdleTimer({
    timeout,
    promptBeforeIdle,
    crossTab: true,
    syncTimers: 200,
    onPrompt: () => setPrompted(true),
    onActive: () => setPrompted(false),
    onIdle: () => leave('idle_timeout'),
    onMessage: (data) => {
      if (data && data.type === 'logout') leave(data.reason);
    },
    onAction: () => {
      if (timer.isPrompted()) timer.activate();
    },
  });
  return (
    <>
      <Content
        onSignOut={() => {
          // Tell the other tabs first: leaving fires react-idle-timer's beforeunload handler,
          // which closes its channel (message(data, true) would post after that and be lost).
          timer.message({ type: 'logout', reason: 'logged_out' });
          leave('logged_out');
        }}
      />
      {prompted && (
        <div role="alertdialog" aria-modal="true" aria-labelledby="idle-title">
          <h2 id="idle-title">Are you still there?</h2>
          <button type="button" onClick={() => timer.activate()}>
            Stay signed in
          </button>
        </div>
      )}
    </>
  );
}

createRoot(document.getElementById('root')).render(<App />);
