// A callback answered 401 means the session ended (signed out elsewhere, key revoked, expired):
// go to the login page instead of leaving a page that silently stops updating.
(function () {
  const fetch = window.fetch;
  window.fetch = async function (...args) {
    const response = await fetch.apply(this, args);
    const url = String(args[0] && args[0].url ? args[0].url : args[0]);
    if (response.status === 401 && url.includes("/_dash-")) {
      let target = "/login?reason=revoked";
      try { target = (await response.clone().json()).login || target; } catch (e) { /* keep the default */ }
      window.location.assign(target);
    }
    return response;
  };
})();
