// Client-side routes: the server answers index.html for every path.

type Render = (path: string, query: URLSearchParams) => void;

let render: Render = () => undefined;

/** Sets what renders a route, and renders the current one. */
export function startRouter(r: Render): void {
  render = r;
  window.onpopstate = () => current();
  current();
}

/** Goes to a path of the app. */
export function navigate(path: string): void {
  if (path !== location.pathname + location.search) history.pushState(null, '', path);
  current();
}

function current(): void {
  render(location.pathname, new URLSearchParams(location.search));
}

/** Makes clicks on in-app links navigate without reloading. */
export function interceptLinks(root: HTMLElement): void {
  root.addEventListener('click', (ev) => {
    const a = (ev.target as Element).closest('a');
    if (!a || a.target || a.origin !== location.origin || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    navigate(a.pathname + a.search);
  });
}
