// The React bench page without react-idle-timer: the baseline for its size and per-event cost.
import { createRoot } from 'react-dom/client';
import { Content } from './content.jsx';

createRoot(document.getElementById('root')).render(<Content onSignOut={() => {}} />);
