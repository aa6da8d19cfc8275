import { lazy, StrictMode, Suspense } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';
import './styles.css';

// The operator console is a bundle of its own, fetched only when /admin is opened: customers never load it.
const AdminApp = lazy(() => import('./admin/app'));
const isAdmin = location.pathname === '/admin' || location.pathname.startsWith('/admin/');

const root = document.getElementById('root');
if (root)
  createRoot(root).render(
    <StrictMode>
      {isAdmin ? (
        <Suspense fallback={<p className="loading">Loading…</p>}>
          <AdminApp />
        </Suspense>
      ) : (
        <App />
      )}
    </StrictMode>,
  );
