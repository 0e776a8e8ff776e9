'use strict';
'require view';
'require dom';
'require poll';
'require rpc';
'require uci';
'require ui';
'require meshwrt.qrcode as qrcode';

/*
 * The router's tailnet at a glance: connected or why not, the login link
 * (and its QR code, for a phone), and the other nodes with their paths.
 * Everything comes from the agent's ubus object `meshwrt`; the page polls
 * it, so a login approved elsewhere or a peer going direct shows up alone.
 */

var callStatus = rpc.declare({ object: 'meshwrt', method: 'status', expect: { '': {} } });
var callNetcheck = rpc.declare({ object: 'meshwrt', method: 'netcheck', expect: { '': {} } });
var callPeers = rpc.declare({ object: 'meshwrt', method: 'peers', expect: { peers: [] } });
/* A failed call answers its ubus status with { error: "..." }: kept, to be shown. */
var callLogin = rpc.declare({ object: 'meshwrt', method: 'login', params: [ 'login_server', 'auth_key' ] });
var callLogout = rpc.declare({ object: 'meshwrt', method: 'logout' });
var callUp = rpc.declare({ object: 'meshwrt', method: 'up' });
var callDown = rpc.declare({ object: 'meshwrt', method: 'down' });
/* LuCI's own way to run an init script (rpcd's `luci` plugin), as System > Startup does. */
var callInitAction = rpc.declare({ object: 'luci', method: 'setInitAction', params: [ 'name', 'action' ], expect: { result: false } });
var callSessionAccess = rpc.declare({ object: 'session', method: 'access', params: [ 'scope', 'object', 'function' ], expect: { access: false } });

/* Where an empty login server field points: the init script starts nothing without one. */
var TAILSCALE = 'https://controlplane.tailscale.com';

/* ubusd's answer when no process has registered the object: the agent is not running. */
function notRunning(err) {
	return /\bmeshwrt\/status failed with error -32000\b/.test(String(err && err.message));
}

/* The status, or null when the agent is not running; other failures stay failures. */
function statusOrNull() {
	return callStatus().catch(function(e) {
		if (notRunning(e))
			return null;
		throw e;
	});
}

/* A value for the page, never the text "undefined": dom.append keeps what it is given. */
function text(v, none) {
	return (v == null || v === '') ? (none != null ? none : '-') : String(v);
}

/* Lists inside table cells and alerts: bullets inside the box under every theme. */
function list(items) {
	return E('ul', { 'style': 'list-style-position:inside;margin:0;padding:0' },
		items.map(function(i) { return E('li', {}, [ text(i) ]) }));
}

var STATES = {
	'running': _('Connected'),
	'connecting': _('Connecting…'),
	'needs-login': _('Waiting for login'),
	'awaiting-approval': _('Waiting for approval'),
	'key-expired': _('Key expired'),
	'not-configured': _('Not set up'),
	'stopped': _('Stopped')
};

function bytes(n) {
	var units = [ 'B', 'KiB', 'MiB', 'GiB', 'TiB' ], i = 0;
	for (; n >= 1024 && i < units.length - 1; i++)
		n /= 1024;
	return i ? '%.1f %s'.format(n, units[i]) : '%d B'.format(n);
}

function ago(iso) {
	if (!iso)
		return _('Never');
	var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
	if (s < 120) return _('%d s ago').format(s);
	if (s < 7200) return _('%d min ago').format(Math.round(s / 60));
	return _('%d h ago').format(Math.round(s / 3600));
}

function relayName(netcheck, region) {
	var r = (netcheck.relays || []).filter(function(x) { return x.region == region })[0];
	return r ? '%s (%s)'.format(r.name, r.code) : _('region %d').format(region);
}

function row(title, value) {
	return E('tr', { 'class': 'tr' }, [
		E('td', { 'class': 'td left', 'width': '33%' }, [ title ]),
		E('td', { 'class': 'td left' }, [ value ])
	]);
}

/* Which login field an error from `login` is about: the agent names the UCI option. */
function errorField(message) {
	var m = /\bmeshwrt\.main\.(login_server|auth_key)\b/.exec(message);
	return m ? m[1] : 'login_server';
}

return view.extend({
	load: function() {
		return Promise.all([
			statusOrNull(),
			L.resolveDefault(callNetcheck(), {}),
			L.resolveDefault(callPeers(), []),
			/* Readable only with the settings' ACL (the file holds the auth key). */
			L.resolveDefault(uci.load('meshwrt'), null),
			L.resolveDefault(callSessionAccess('uci', 'meshwrt', 'write'), false)
		]);
	},

	renderStatus: function(st, nc) {
		/* A failed status call answers { error }: that is what to show, not a state. */
		if (st.error)
			return E('table', { 'class': 'table', 'id': 'meshwrt-status' }, [
				row(_('State'), E('strong', { 'data-state': 'error' }, [ _('Unknown') ])),
				row(_('Why'), E('span', { 'class': 'meshwrt-error', 'style': 'color:#c00' }, [ text(st.error) ]))
			]);
		var why = (st.health || []).length ? list(st.health) : _('No problems');
		var name = st.name ? (st.tailnet ? '%s.%s'.format(st.name, st.tailnet) : st.name) : '-';
		var home = st.homeRelay || nc.homeRelay;
		return E('table', { 'class': 'table', 'id': 'meshwrt-status' }, [
			row(_('State'), E('strong', { 'data-state': text(st.state, 'unknown') }, [ STATES[st.state] || text(st.state, _('Unknown')) ])),
			row(_('Why'), why),
			row(_('Name in the tailnet'), name),
			row(_('Tailnet addresses'), (st.addresses || []).join(', ') || '-'),
			row(_('Home relay'), home ? relayName(nc, home) : '-'),
			row(_('NAT type'), nc.nat || _('unknown')),
			row(_('Tunnel'), st.wireguard ? _('%s WireGuard on %s').format(st.wireguard, text(st.interface)) : '-'),
			row(_('Shared with the tailnet'), (st.advertisedRoutes || []).join(', ') || _('nothing')),
			row(_('Exit node'), st.exitNode ? _('offered') : _('not offered')),
			row(_('Agent version'), text(st.version, '?'))
		]);
	},

	/* The login link as a link and as a QR code, for whoever may log the router in. */
	renderLink: function(st) {
		if (!st.authUrl || !L.hasViewPermission())
			return E('div', { 'id': 'meshwrt-login-link' });
		return E('div', { 'id': 'meshwrt-login-link', 'class': 'alert-message notice' }, [
			E('p', {}, [ _('Open this link, or scan the code with a phone, to add the router to your tailnet:') ]),
			/* A long URL breaks anywhere rather than widening a phone's page. */
			E('p', { 'style': 'overflow-wrap:anywhere;word-break:break-all' }, [
				E('a', { 'href': st.authUrl, 'target': '_blank', 'rel': 'noreferrer' }, [ st.authUrl ]) ]),
			E('div', { 'class': 'meshwrt-qr' }, [ qrcode.render(st.authUrl, 4) ])
		]);
	},

	renderPeers: function(peers, nc, state) {
		var head = [ _('Name'), _('Addresses'), _('OS'), _('Online'), _('Path'), _('Received / sent'),
			_('Last handshake'), _('Routes'), _('Exit node') ];
		/* Each cell carries its column's title: themes show it beside the value on a phone. */
		var cell = function(i, value, attrs) {
			return E('td', Object.assign({ 'class': 'td', 'data-title': head[i] }, attrs || {}), [ value ]);
		};
		var rows = peers.map(function(p) {
			var path = p.endpoint
				? _('direct %s, %d ms').format(p.endpoint, p.latencyMs || 0)
				: _('relay %s').format(relayName(nc, p.relayRegion));
			return E('tr', { 'class': 'tr', 'data-peer': text(p.name, '') }, [
				cell(0, text(p.name, '?'), { 'title': text(p.dnsName, '') }),
				cell(1, text(L.toArray(p.addresses).join(', '))),
				cell(2, text(p.os, '?')),
				cell(3, p.online ? _('yes') : _('no')),
				cell(4, path, { 'data-path': p.endpoint ? 'direct' : 'relay' }),
				cell(5, '%s / %s'.format(bytes(p.rxBytes || 0), bytes(p.txBytes || 0))),
				cell(6, ago(p.lastHandshake)),
				cell(7, text(L.toArray(p.routes).join(', '))),
				cell(8, p.exitNode ? _('yes') : _('no'))
			]);
		});
		if (!rows.length)
			rows.push(E('tr', { 'class': 'tr placeholder' }, [ E('td', { 'class': 'td' }, [
				state == 'running' ? _('No other nodes in the tailnet yet') : _('Not connected to the tailnet') ]) ]));
		return E('table', { 'class': 'table', 'id': 'meshwrt-peers' }, [
			E('tr', { 'class': 'tr table-titles' }, head.map(function(h) { return E('th', { 'class': 'th' }, [ h ]) }))
		].concat(rows));
	},

	renderLogin: function() {
		var field = function(id, title, input, help) {
			return E('div', { 'class': 'cbi-value', 'id': 'meshwrt-field-' + id }, [
				E('label', { 'class': 'cbi-value-title', 'for': 'meshwrt-' + id }, [ title ]),
				E('div', { 'class': 'cbi-value-field' }, [ input, E('div', { 'class': 'cbi-value-description' }, [ help ]) ])
			]);
		};
		return E('div', { 'class': 'cbi-section', 'id': 'meshwrt-login' }, [
			E('h3', {}, [ _('Log in to the tailnet') ]),
			field('login_server', _('Login server'),
				E('input', { 'type': 'text', 'class': 'cbi-input-text', 'id': 'meshwrt-login_server',
					'value': uci.get('meshwrt', 'main', 'login_server') || '',
					'placeholder': 'https://controlplane.tailscale.com' }),
				_('Your Headscale server\'s URL, or empty for Tailscale\'s own service.')),
			/* Write-only: the page never reads the key back, so the field always starts empty. */
			field('auth_key', _('Auth key'),
				E('input', { 'type': 'password', 'class': 'cbi-input-password', 'id': 'meshwrt-auth_key',
					'autocomplete': 'new-password', 'value': '' }),
				_('A pre-auth key from the server joins without a browser. Empty: log in with a link instead.')),
			E('div', { 'class': 'cbi-page-actions' }, [
				E('button', { 'class': 'cbi-button cbi-button-apply', 'id': 'meshwrt-do-login',
					'click': ui.createHandlerFn(this, 'handleLogin') }, [ _('Log in') ]),
				' ',
				E('button', { 'class': 'cbi-button cbi-button-reset', 'id': 'meshwrt-do-logout',
					'click': ui.createHandlerFn(this, 'handleLogout') }, [ _('Log out of the tailnet') ]),
				' ',
				E('button', { 'class': 'cbi-button', 'click': ui.createHandlerFn(this, 'handleUpDown', callDown) }, [ _('Stop') ]),
				' ',
				E('button', { 'class': 'cbi-button', 'click': ui.createHandlerFn(this, 'handleUpDown', callUp) }, [ _('Start') ])
			])
		]);
	},

	fieldError: function(name, message) {
		var box = document.getElementById('meshwrt-field-' + name);
		if (box)
			box.querySelector('.cbi-value-field').appendChild(E('div', { 'class': 'cbi-value-error alert-message error' }, [ message ]));
	},

	handleLogin: function() {
		var server = document.getElementById('meshwrt-login_server').value.trim();
		var key = document.getElementById('meshwrt-auth_key');
		document.querySelectorAll('#meshwrt-login .cbi-value-error').forEach(function(e) { e.remove() });
		/* An empty key field sends "", so a stale stored key cannot stand in for the link. */
		return callLogin(server, key.value.trim()).then(L.bind(function(st) {
			key.value = '';
			if (st && st.error)
				return this.fieldError(errorField(st.error), st.error);
			return this.refresh(st);
		}, this));
	},

	handleLogout: function() {
		return callLogout().then(L.bind(function(st) {
			if (st && st.error)
				return ui.addNotification(null, E('p', {}, [ st.error ]), 'error');
			return this.refresh(st);
		}, this));
	},

	handleUpDown: function(call) {
		return call().then(L.bind(function(st) {
			if (st && st.error)
				return ui.addNotification(null, E('p', {}, [ st.error ]), 'error');
			return this.refresh(st);
		}, this));
	},

	/* Redraws what changes by itself; `st` when a button already brought a fresh status. */
	refresh: function(st) {
		return Promise.all([
			st && st.state ? st : statusOrNull(),
			L.resolveDefault(callNetcheck(), {}),
			L.resolveDefault(callPeers(), [])
		]).then(L.bind(function(r) {
			/* The agent went away (stopped by its init script): the page for that. */
			if (!r[0])
				return window.location.reload();
			dom.content(document.getElementById('meshwrt-status-box'), this.renderStatus(r[0], r[1]));
			document.getElementById('meshwrt-login-link').replaceWith(this.renderLink(r[0]));
			dom.content(document.getElementById('meshwrt-peers-box'), this.renderPeers(r[2], r[1], r[0].state));
		}, this));
	},

	/*
	 * No agent on ubus. A fresh install is off (enabled '0'): say so and, for
	 * whoever may change the settings, offer to turn it on: the settings go
	 * through uci with LuCI's apply (confirmed, else rolled back), whose
	 * `uci commit` reaches the init script through procd's config trigger,
	 * and the init script is enabled for boot and started as System >
	 * Startup does.
	 */
	renderOff: function(config, writable) {
		var enabled = config ? uci.get('meshwrt', 'main', 'enabled') == '1' : null;
		var why = enabled === false
			? _('meshwrt is turned off: it does not run and the router is not in a tailnet.')
			: enabled === true
				? _('meshwrt is turned on but not running. Its init script starts it only with a login server or an auth key set; the system log says more (logread -e meshwrt).')
				: _('meshwrt is not running.');
		var body = [ E('p', {}, [ why ]) ];
		if (!writable)
			body.push(E('p', {}, [ _('An administrator can turn it on on this page.') ]));
		else if (enabled)
			body.push(E('div', { 'class': 'cbi-page-actions' }, [
				E('button', { 'class': 'cbi-button cbi-button-apply', 'id': 'meshwrt-start-service',
					'click': ui.createHandlerFn(this, 'handleStartService') }, [ _('Start') ])
			]));
		else {
			var field = function(id, title, input, help) {
				return E('div', { 'class': 'cbi-value' }, [
					E('label', { 'class': 'cbi-value-title', 'for': 'meshwrt-on-' + id }, [ title ]),
					E('div', { 'class': 'cbi-value-field' }, [ input, E('div', { 'class': 'cbi-value-description' }, [ help ]) ])
				]);
			};
			body.push(
				field('login_server', _('Login server'),
					E('input', { 'type': 'text', 'class': 'cbi-input-text', 'id': 'meshwrt-on-login_server',
						'value': uci.get('meshwrt', 'main', 'login_server') || '', 'placeholder': TAILSCALE }),
					_('Your Headscale server\'s URL, or empty for Tailscale\'s own service.')),
				field('auth_key', _('Auth key'),
					E('input', { 'type': 'password', 'class': 'cbi-input-password', 'id': 'meshwrt-on-auth_key',
						'autocomplete': 'new-password', 'value': '' }),
					_('A pre-auth key from the server joins without a browser. Empty: log in with a link instead.')),
				E('div', { 'class': 'cbi-page-actions' }, [
					E('button', { 'class': 'cbi-button cbi-button-apply', 'id': 'meshwrt-turn-on',
						'click': ui.createHandlerFn(this, 'handleTurnOn') }, [ _('Turn on') ])
				]));
		}
		return E([], [
			E('h2', {}, [ _('Tailnet') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('This router in your Tailscale or Headscale tailnet: phones and laptops in the tailnet reach the devices you share from the LAN.') ]),
			E('div', { 'class': 'cbi-section', 'id': 'meshwrt-off' }, [ E('h3', {}, [ _('Status') ]) ].concat(body))
		]);
	},

	/*
	 * Staged and applied like any settings change (confirmed, else rolled
	 * back); `uci commit meshwrt` reaches the init script through procd's
	 * config trigger, which starts the agent. Enabled for boot too.
	 */
	handleTurnOn: function() {
		var server = document.getElementById('meshwrt-on-login_server').value.trim();
		var key = document.getElementById('meshwrt-on-auth_key').value.trim();
		uci.set('meshwrt', 'main', 'enabled', '1');
		/* The init script starts nothing with neither a server nor a key. */
		uci.set('meshwrt', 'main', 'login_server', server || TAILSCALE);
		if (key)
			uci.set('meshwrt', 'main', 'auth_key', key);
		return uci.save()
			.then(function() { return callInitAction('meshwrt', 'enable') })
			.then(function() { ui.changes.apply(true) });
	},

	/*
	 * The init script exits 0 even when it starts nothing (it logs why), so
	 * the agent answering is what tells: the page reloads once it does.
	 */
	handleStartService: function() {
		var failed = function() {
			ui.addNotification(null, E('p', {}, [ _('The init script did not start meshwrt: see the system log (logread -e meshwrt).') ]), 'error');
		};
		return callInitAction('meshwrt', 'start').then(function(ok) {
			if (!ok)
				return failed();
			var tries = 0;
			var check = function() {
				return statusOrNull().then(function(st) {
					if (st)
						return window.location.reload();
					if (++tries >= 10)
						return failed();
					return new Promise(function(resolve) { window.setTimeout(resolve, 1000) }).then(check);
				});
			};
			return check();
		});
	},

	render: function(data) {
		var st = data[0], nc = data[1], peers = data[2];
		if (!st) {
			poll.add(function() { return statusOrNull().then(function(s) { if (s) window.location.reload() }) }, 5);
			return this.renderOff(data[3], data[4]);
		}
		poll.add(L.bind(function() { return this.refresh() }, this), 5);
		return E([], [
			E('h2', {}, [ _('Tailnet') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('This router in your Tailscale or Headscale tailnet: phones and laptops in the tailnet reach the devices you share from the LAN.') ]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Status') ]),
				E('div', { 'id': 'meshwrt-status-box' }, [ this.renderStatus(st, nc) ]),
				this.renderLink(st)
			]),
			L.hasViewPermission() ? this.renderLogin() : E([]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Peers') ]),
				E('div', { 'id': 'meshwrt-peers-box' }, [ this.renderPeers(peers, nc, st.state) ])
			])
		]);
	},

	/* Nothing on this page goes through Save & Apply: the buttons act at once. */
	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
