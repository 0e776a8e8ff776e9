'use strict';
'require view';
'require form';
'require rpc';
'require uci';
'require ui';

/*
 * What the tailnet may reach: whole LAN subnets or single devices, the
 * router as exit node, and the firewall zone that lets it through. Saved
 * to /etc/config/meshwrt with Save & Apply; `uci commit` makes the agent
 * re-read it (SIGHUP), and a value it refuses comes back in its status,
 * shown here next to the field it names.
 */

var callStatus = rpc.declare({ object: 'meshwrt', method: 'status', expect: { '': {} } });
var callDevices = rpc.declare({ object: 'meshwrt', method: 'devices', expect: { devices: [] } });
var callSessionAccess = rpc.declare({ object: 'session', method: 'access', params: [ 'scope', 'object', 'function' ], expect: { access: false } });

/* The firewall that the package's uci-defaults set up (meshwrt.firewall): what the repair restores. */
var ZONE = 'meshwrt', DEVICE = 'meshwrt0';
var FORWARDINGS = [
	{ name: 'meshwrt_lan', src: 'meshwrt', dest: 'lan', why: _('tailnet devices reach the LAN') },
	{ name: 'lan_meshwrt', src: 'lan', dest: 'meshwrt', why: _('LAN devices reach the tailnet') },
	{ name: 'meshwrt_wan', src: 'meshwrt', dest: 'wan', why: _('the exit node reaches the internet') }
];

/* An IPv4 or IPv6 prefix without host bits, as the agent accepts in advertise_routes. */
function checkPrefix(v) {
	var m = /^([0-9.]+|[0-9a-fA-F:]+)\/(\d{1,3})$/.exec(v);
	if (!m)
		return _('Expecting a subnet such as 192.168.1.0/24, or one device as 192.168.1.50/32');
	var v4 = m[1].indexOf(':') < 0, bits = +m[2];
	if (bits == 0)
		return _('A default route: turn on "Offer as exit node" instead');
	if (bits > (v4 ? 32 : 128))
		return _('The prefix length is too long');
	if (v4) {
		var o = m[1].split('.');
		if (o.length != 4 || o.some(function(x) { return x === '' || +x > 255 }))
			return _('Not an IPv4 address');
		var n = o.reduce(function(a, x) { return a * 256 + +x }, 0);
		if (bits < 32 && n % Math.pow(2, 32 - bits) != 0)
			return _('Host bits are set: the subnet starts at a lower address');
	}
	return true;
}

function zoneSection() {
	return uci.sections('firewall', 'zone').filter(function(z) { return z.name == ZONE })[0];
}

function hasForwarding(f) {
	return uci.sections('firewall', 'forwarding').some(function(s) { return s.src == f.src && s.dest == f.dest });
}

/* What is missing from the firewall, in words; empty when it is as the package set it up. */
function firewallProblems() {
	var z = zoneSection(), out = [];
	if (!z)
		out.push(_('There is no firewall zone "%s"').format(ZONE));
	else if (L.toArray(z.device).indexOf(DEVICE) < 0 && L.toArray(z.network).length == 0)
		out.push(_('The zone "%s" does not cover the tunnel %s').format(ZONE, DEVICE));
	FORWARDINGS.forEach(function(f) {
		if (!hasForwarding(f))
			out.push(_('No forwarding %s → %s: %s').format(f.src, f.dest, f.why));
	});
	return out;
}

return view.extend({
	load: function() {
		return Promise.all([
			/* Not running (no object) or failing ({ error }): the settings can be edited all the same. */
			L.resolveDefault(callStatus(), {}),
			L.resolveDefault(callDevices(), []),
			uci.load('meshwrt'),
			L.resolveDefault(uci.load('firewall'), null),
			/* The firewall's grant is luci-app-meshwrt's, apart from this page's settings. */
			L.resolveDefault(callSessionAccess('uci', 'firewall', 'write'), false)
		]);
	},

	/* Staged like any other change: Save & Apply writes it. */
	handleRepair: function() {
		var z = zoneSection(), sid = z ? z['.name'] : uci.add('firewall', 'zone', ZONE);
		if (!z) {
			uci.set('firewall', sid, 'name', ZONE);
			[ 'input', 'output', 'forward' ].forEach(function(o) { uci.set('firewall', sid, o, 'ACCEPT') });
			uci.set('firewall', sid, 'mtu_fix', '1');
		}
		if (L.toArray(uci.get('firewall', sid, 'device')).indexOf(DEVICE) < 0)
			uci.set('firewall', sid, 'device', L.toArray(uci.get('firewall', sid, 'device')).concat([ DEVICE ]));
		FORWARDINGS.forEach(function(f) {
			if (hasForwarding(f))
				return;
			var fid = uci.add('firewall', 'forwarding', uci.get('firewall', f.name) ? null : f.name);
			uci.set('firewall', fid, 'src', f.src);
			uci.set('firewall', fid, 'dest', f.dest);
		});
		document.getElementById('meshwrt-firewall').replaceWith(this.renderFirewall(true));
	},

	renderFirewall: function(repaired) {
		if (!this.firewallRead)
			return E('div', { 'id': 'meshwrt-firewall' }, [ _('The firewall configuration cannot be read.') ]);
		var problems = firewallProblems(), z = zoneSection();
		var have = E('ul', { 'style': 'list-style-position:inside;margin:0 0 .5em;padding:0' }, [ E('li', {}, [ z ? _('Zone "%s": %s').format(ZONE, L.toArray(z.device).concat(L.toArray(z.network)).join(', ') || '-') : _('No zone') ]) ]
			.concat(FORWARDINGS.filter(hasForwarding).map(function(f) { return E('li', {}, [ _('Forwarding %s → %s').format(f.src, f.dest) ]) })));
		return E('div', { 'class': 'cbi-section', 'id': 'meshwrt-firewall', 'data-ok': problems.length ? '0' : '1' }, [
			E('h3', {}, [ _('Firewall') ]),
			have,
			problems.length
				? E('div', { 'class': 'alert-message warning' }, [
					E('ul', { 'style': 'list-style-position:inside;margin:0 0 .5em;padding:0' }, problems.map(function(p) { return E('li', {}, [ p ]) })),
					E('button', { 'class': 'cbi-button cbi-button-action', 'id': 'meshwrt-repair', 'disabled': this.firewallWritable ? null : '',
						'click': ui.createHandlerFn(this, 'handleRepair') }, [ _('Repair') ])
				])
				: E('p', {}, [ repaired ? _('Repaired: Save & Apply makes it so.') : _('The firewall lets the tailnet in as set up.') ])
		]);
	},

	/*
	 * An operator who may change the firewall but not this file gets a
	 * read-only form (form.Map asks rpcd), yet a repair to save: uci.save()
	 * sends whatever is staged, the firewall's changes included.
	 */
	handleSave: function(ev) {
		return this.map.readonly ? uci.save() : this.map.save();
	},

	render: function(data) {
		var status = data[0], devices = data[1];
		this.firewallRead = data[3] != null;
		this.firewallWritable = data[4];
		var m = this.map = new form.Map('meshwrt', _('Sharing the LAN'),
			_('Choose what phones and laptops in the tailnet may reach. The control server (Headscale or Tailscale) still has to approve new routes.'));
		var s = m.section(form.NamedSection, 'main', 'meshwrt');
		var o;

		o = s.option(form.DynamicList, 'advertise_routes', _('Shared subnets and devices'),
			_('Whole subnets (192.168.1.0/24) or single devices (192.168.1.50/32). Without any entry the router shares the LAN subnets it is in, listed here.'));
		/* Pre-filled with what the agent shares now (the LAN subnets when nothing is set). */
		o.cfgvalue = function(section_id) {
			var v = L.toArray(uci.get('meshwrt', section_id, 'advertise_routes'));
			return v.length ? v : (status.advertisedRoutes || []);
		};
		o.validate = function(section_id, value) { return value === '' || checkPrefix(value) };

		o = s.option(form.ListValue, '_device', _('Share one device'),
			_('Adds a device from the LAN (printer, camera) as a single-address route.'));
		o.value('', _('-- choose a device --'));
		devices.forEach(function(d) {
			var ip = L.toArray(d.addresses).filter(function(a) { return a.indexOf(':') < 0 })[0];
			if (ip)
				o.value(ip, '%s (%s, %s)'.format(d.name || _('unnamed'), ip, d.mac || '?'));
		});
		/* A picker, not an option: it edits the routes list and stores nothing itself. */
		o.cfgvalue = function() { return '' };
		o.write = o.remove = function() {};
		o.onchange = function(ev, section_id, value) {
			if (!value)
				return;
			var routes = this.map.lookupOption('advertise_routes', section_id)[0].getUIElement(section_id);
			var list = routes.getValue();
			if (list.indexOf(value + '/32') < 0)
				routes.setValue(list.concat([ value + '/32' ]));
			/*
			 * Back to the prompt, and told so: form.js calls onchange only for a
			 * value other than the last one it saw, so without the change event
			 * picking the same device again (after removing it) would do nothing.
			 */
			var picker = this.getUIElement(section_id);
			picker.setValue('');
			picker.node.querySelector('select').dispatchEvent(new Event('change'));
		};

		o = s.option(form.Flag, 'advertise_exit_node', _('Offer as exit node'),
			_('Tailnet devices that choose this router send their internet traffic out through this WAN.'));
		o.default = '0';
		o = s.option(form.Flag, 'accept_routes', _('Use routes of other nodes'),
			_('Reach subnets that other routers in the tailnet share.'));
		o.default = '0';
		o = s.option(form.Flag, 'accept_dns', _('MagicDNS for the LAN'),
			_('LAN devices resolve tailnet names (phone.your-tailnet) through this router\'s DNS.'));
		o.default = '1';
		o = s.option(form.Flag, 'snat_subnet_routes', _('Masquerade to the LAN'),
			_('Tailnet traffic reaches LAN devices from the router\'s address, so they need no route back.'));
		o.default = '1';

		var errors = (status.health || []).map(function(h) {
			var x = /\bmeshwrt\.main\.([a-z_]+): (.*)$/.exec(h);
			return x ? { option: x[1], text: x[0] } : null;
		}).filter(Boolean);

		return m.render().then(L.bind(function(node) {
			/* The agent's verdict on the last applied values, under the field it names. */
			errors.forEach(function(e) {
				var field = node.querySelector('#cbi-meshwrt-main-' + e.option + ' .cbi-value-field');
				if (field)
					field.appendChild(E('div', { 'class': 'cbi-value-error alert-message error' }, [ e.text ]));
			});
			return E([], [ node, this.renderFirewall(false) ]);
		}, this));
	}
});
