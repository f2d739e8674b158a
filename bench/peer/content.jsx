// The markup both React pages share: the same heading, counter and sign-out button as the
// Leptos bench pages (bench/pages/src/lib.rs).
import { useState } from 'react';

export function Content({ onSignOut }) {
  const [clicks, setClicks] = useState(0);
  return (
    <main className="bench-page">
      <h1>Bench page</h1>
      <p>A minimal page: the same markup with and without react-idle-timer.</p>
      <button id="count" type="button" onClick={() => setClicks((n) => n + 1)}>
        Clicked {clicks} times
      </button>
      <button id="sign-out" type="button" onClick={onSignOut}>
        Sign out
      </button>
    </main>
  );
}
