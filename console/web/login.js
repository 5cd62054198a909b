// The login page: POST /api/login with the CSRF token, then the console.
const form = document.getElementById('login');
const msg = document.getElementById('msg');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  msg.textContent = '';
  const t = await (await fetch('/api/csrf')).json();
  const r = await fetch('/api/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', [t.header]: t.token },
    body: JSON.stringify({ user: document.getElementById('user').value, password: document.getElementById('password').value }),
  });
  if (r.ok) { location.href = '/'; return; }
  const j = await r.json().catch(() => ({}));
  msg.textContent = j.error || r.statusText;
  document.getElementById('password').value = '';
});
