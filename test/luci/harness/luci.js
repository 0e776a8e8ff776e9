/*
 * A stand-in for LuCI's client runtime (luci-base's luci.js, rpc.js, uci.js,
 * form.js, ui.js), for the browser test only: LuCI itself cannot be
 * installed here. It implements the parts luci-app-meshwrt uses, after
 * LuCI's documented behaviour:
 *   - modules: `'require x.y as z'` directives, the factory called with
 *     (window, document, L, ...deps), its class instantiated (luci.js);
 *   - view: load() -> render() -> #view, then a footer of Save & Apply /
 *     Save / Reset unless the handler is null, disabled when read-only;
 *   - rpc.declare: JSON-RPC "call" to uhttpd's /ubus, params/expect/filter,
 *     a 20 s timeout,
 *     a non-zero ubus status resolving to the reply's data (or the code)
 *     unless `reject` is set, JSON-RPC errors rejecting (rpc.js);
 *   - uci: load/get/set/unset/add/remove/sections, changes staged in the
 *     page and sent by save() as rpcd `uci` add/set/delete calls (uci.js);
 *   - form: Map, NamedSection, Flag, ListValue, DynamicList, with
 *     cfgvalue/formvalue/validate/write/remove/onchange and the ids LuCI
 *     gives them (cbi-CONFIG-SECTION-OPTION, cbid.CONFIG.SECTION.OPTION);
 *   - ui.changes.apply: `uci apply` over ubus (no rollback), "Configuration
 *     changes applied.", then the page reloads, as LuCI does;
 *   - poll: add() on a 1 s tick.
 */
(function() {
'use strict';

var env = window.LUCI_ENV;

String.prototype.format = function() {
	var args = arguments, i = 0;
	return this.replace(/%(?:\.(\d+))?([sdf%])/g, function(m, prec, t) {
		if (t == '%') return '%';
		var v = args[i++];
		if (t == 'd') return String(Math.floor(+v));
		if (t == 'f') return (+v).toFixed(prec != null ? +prec : 6);
		return String(v == null ? '' : v);
	});
};

window._ = function(s) { return s };

/* LuCI's Class: extend() with __init__, isSubclass(). */
function Class() {}
Class.extend = function(props) {
	var Parent = this;
	var C = function() {
		if (typeof this.__init__ == 'function')
			return this.__init__.apply(this, arguments);
	};
	C.prototype = Object.create(Parent.prototype);
	Object.assign(C.prototype, props);
	C.prototype.constructor = C;
	C.extend = Class.extend;
	C.isSubclass = Class.isSubclass;
	C.singleton = Class.singleton;
	return C;
};
Class.singleton = function(props) { return new (Class.extend(props))() };
Class.isSubclass = function(c) { return c != null && typeof c == 'function' && c.prototype instanceof Class };

/* E() / dom: elements from tag, attributes (functions become listeners) and children. */
var dom = Class.singleton({
	elem: function(e) { return e != null && typeof e == 'object' && 'nodeType' in e },
	append: function(node, children) {
		if (children == null) return;
		if (Array.isArray(children)) children.forEach(function(c) { dom.append(node, c) });
		else node.appendChild(dom.elem(children) ? children : document.createTextNode(String(children)));
	},
	content: function(node, children) {
		while (node.firstChild) node.removeChild(node.firstChild);
		dom.append(node, children);
		return node;
	},
	create: function(tag, attrs, children) {
		if (Array.isArray(tag)) {
			var frag = document.createDocumentFragment();
			dom.append(frag, attrs);
			return frag;
		}
		if (attrs != null && (Array.isArray(attrs) || dom.elem(attrs) || typeof attrs != 'object')) {
			children = attrs;
			attrs = null;
		}
		var el = document.createElement(tag);
		Object.keys(attrs || {}).forEach(function(k) {
			var v = attrs[k];
			if (v == null) return;
			if (typeof v == 'function') el.addEventListener(k, v);
			else if (typeof v == 'object') el.setAttribute(k, JSON.stringify(v));
			else el.setAttribute(k, v);
		});
		dom.append(el, children);
		return el;
	},
	bindClassInstance: function(node, inst) { node.__luciInstance = inst },
	findClassInstance: function(node) {
		for (; node; node = node.parentNode)
			if (node.__luciInstance) return node.__luciInstance;
		return null;
	},
	callClassMethod: function(node, method) {
		var inst = dom.findClassInstance(node);
		return inst ? inst[method].apply(inst, Array.prototype.slice.call(arguments, 2)) : null;
	}
});
window.E = function() { return dom.create.apply(dom, arguments) };

var poll = Class.singleton({
	queue: [],
	timer: null,
	tick: 0,
	add: function(fn, interval) {
		this.queue.push({ fn: fn, interval: interval || env.pollinterval, running: false });
		this.start();
		return true;
	},
	start: function() {
		if (!this.timer) this.timer = window.setInterval(this.step.bind(this), 1000);
	},
	step: function() {
		this.tick++;
		this.queue.forEach(function(e) {
			if (e.running || this.tick % e.interval) return;
			e.running = true;
			Promise.resolve().then(e.fn).catch(function(err) { console.error(err) }).then(function() { e.running = false });
		}, this);
	}
});

var rpcId = 1;
var rpc = Class.singleton({
	declare: function(o) {
		return function() {
			var args = Array.prototype.slice.call(arguments), params = {};
			(o.params || []).forEach(function(p, i) { if (args[i] !== undefined) params[p] = args[i] });
			var priv = args.slice((o.params || []).length);
			var where = o.object + '/' + o.method;
			return fetch('/ubus/' + o.object + '.' + o.method, {
				method: 'POST',
				signal: AbortSignal.timeout((env.rpctimeout || 20) * 1000),
				headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify({ jsonrpc: '2.0', id: rpcId++, method: 'call', params: [ env.sessionid, o.object, o.method, params ] })
			}).then(function(res) {
				if (!res.ok) throw new Error('RPCError: RPC call to ' + where + ' failed with HTTP error ' + res.status);
				return res.json();
			}).then(function(msg) {
				if (msg.error && msg.error.code)
					throw new Error('RPCError: RPC call to ' + where + ' failed with error ' + msg.error.code + ': ' + msg.error.message);
				var ret = msg.result.length > 1 ? msg.result[1] : msg.result[0];
				if (o.reject && msg.result[0] !== 0)
					throw new Error('RPCError: RPC call to ' + where + ' failed with ubus code ' + msg.result[0]);
				for (var key in (o.expect || {})) {
					if (ret != null && key != '') ret = ret[key];
					var want = o.expect[key], T = Object.prototype.toString;
					if (ret == null || T.call(ret) != T.call(want)) ret = want;
					break;
				}
				return o.filter ? o.filter.apply(null, [ ret, params ].concat(priv)) : ret;
			});
		};
	}
});

var callUci = function(method, params) {
	return rpc.declare({ object: 'uci', method: method, params: Object.keys(params), reject: true }).apply(null, Object.keys(params).map(function(k) { return params[k] }));
};

var newSid = 0;
var uci = Class.singleton({
	state: { values: {}, creates: {}, changes: {}, deletes: {} },
	load: function(confs) {
		confs = L.toArray(confs);
		return Promise.all(confs.map(function(c) {
			return callUci('get', { config: c }).then(function(r) { uci.state.values[c] = r.values });
		})).then(function() { return confs });
	},
	unload: function(conf) { delete this.state.values[conf] },
	/* A section: by name, by "@type[index]", or a newly added one. */
	resolve: function(conf, sid) {
		var m = /^@([^\[]+)\[(-?\d+)\]$/.exec(sid);
		if (!m) return sid;
		var list = this.sections(conf, m[1]), i = +m[2];
		var s = list[i < 0 ? list.length + i : i];
		return s ? s['.name'] : null;
	},
	section: function(conf, sid) {
		var s = (this.state.creates[conf] || {})[sid] || (this.state.values[conf] || {})[sid];
		if (!s || (this.state.deletes[conf] || {})[sid] === true) return null;
		var out = Object.assign({}, s, (this.state.changes[conf] || {})[sid]);
		Object.keys((this.state.deletes[conf] || {})[sid] || {}).forEach(function(o) { delete out[o] });
		return out;
	},
	get: function(conf, sid, opt) {
		var s = this.section(conf, this.resolve(conf, sid));
		if (!s) return null;
		return opt == null ? s : s[opt];
	},
	set: function(conf, sid, opt, val) {
		sid = this.resolve(conf, sid);
		if (val == null || (Array.isArray(val) && !val.length) || val === '') return this.unset(conf, sid, opt);
		var c = (this.state.creates[conf] || {})[sid];
		if (c) { c[opt] = val; return }
		((this.state.changes[conf] = this.state.changes[conf] || {})[sid] = this.state.changes[conf][sid] || {})[opt] = val;
		var d = (this.state.deletes[conf] || {})[sid];
		if (d && d !== true) delete d[opt];
	},
	unset: function(conf, sid, opt) {
		var c = (this.state.creates[conf] || {})[sid];
		if (c) { delete c[opt]; return }
		if ((this.state.changes[conf] || {})[sid]) delete this.state.changes[conf][sid][opt];
		if ((this.state.values[conf] || {})[sid] && opt in this.state.values[conf][sid])
			((this.state.deletes[conf] = this.state.deletes[conf] || {})[sid] = this.state.deletes[conf][sid] || {})[opt] = true;
	},
	add: function(conf, type, name) {
		var sid = name || 'new' + (++newSid);
		(this.state.creates[conf] = this.state.creates[conf] || {})[sid] = { '.type': type, '.name': sid, '.anonymous': !name, '.index': 1000 + newSid, '.create': name || true };
		return sid;
	},
	remove: function(conf, sid) {
		if ((this.state.creates[conf] || {})[sid]) delete this.state.creates[conf][sid];
		else (this.state.deletes[conf] = this.state.deletes[conf] || {})[sid] = true;
	},
	sections: function(conf, type, cb) {
		var all = Object.assign({}, this.state.values[conf] || {}, this.state.creates[conf] || {});
		var list = Object.keys(all).map(function(sid) { return uci.section(conf, sid) })
			.filter(function(s) { return s && (type == null || s['.type'] == type) })
			.sort(function(a, b) { return a['.index'] - b['.index'] });
		if (cb) list.forEach(function(s) { cb.call(this, s, s['.name']) });
		return list;
	},
	changed: function() {
		var st = this.state, confs = {};
		[ st.creates, st.changes, st.deletes ].forEach(function(m) { Object.keys(m).forEach(function(c) { if (Object.keys(m[c]).length) confs[c] = true }) });
		return Object.keys(confs);
	},
	/* Sends the staged changes: added sections, then values, then removals, as uci.js does. */
	save: function() {
		var st = this.state, tasks = [];
		Object.keys(st.creates).forEach(function(conf) {
			Object.keys(st.creates[conf]).forEach(function(sid) {
				var s = st.creates[conf][sid], values = {};
				Object.keys(s).forEach(function(k) { if (k.charAt(0) != '.') values[k] = s[k] });
				var p = { config: conf, type: s['.type'], values: values };
				if (!s['.anonymous']) p.name = sid;
				tasks.push(callUci('add', p));
			});
		});
		Object.keys(st.changes).forEach(function(conf) {
			Object.keys(st.changes[conf]).forEach(function(sid) {
				if (Object.keys(st.changes[conf][sid]).length)
					tasks.push(callUci('set', { config: conf, section: sid, values: st.changes[conf][sid] }));
			});
		});
		Object.keys(st.deletes).forEach(function(conf) {
			Object.keys(st.deletes[conf]).forEach(function(sid) {
				var d = st.deletes[conf][sid];
				tasks.push(callUci('delete', d === true ? { config: conf, section: sid } : { config: conf, section: sid, options: Object.keys(d) }));
			});
		});
		var confs = this.changed();
		return Promise.all(tasks).then(function() {
			uci.state.creates = {}; uci.state.changes = {}; uci.state.deletes = {};
			return uci.load(confs.filter(function(c) { return uci.state.values[c] }));
		});
	}
});

/* ui widgets: getValue/setValue/isValid, and a "widget-change" event as ui.js has. */
var UIElement = Class.extend({
	__init__: function(value, options) {
		this.value = value;
		this.options = options || {};
	},
	getValue: function() { return this.value },
	setValue: function(v) { this.value = v; this.update() },
	update: function() {},
	isValid: function() { return this.error == null },
	validateValue: function(v) {
		var r = this.options.validate ? this.options.validate(v) : true;
		this.error = r === true ? null : r;
		return this.error;
	},
	changed: function() { this.node.dispatchEvent(new CustomEvent('widget-change', { bubbles: true })) }
});

var Checkbox = UIElement.extend({
	render: function() {
		var self = this, id = 'widget.' + this.options.id;
		this.input = E('input', { 'type': 'checkbox', 'id': id, 'disabled': this.options.disabled ? '' : null });
		this.input.checked = this.value == '1';
		this.input.addEventListener('change', function() { self.value = self.input.checked ? '1' : '0'; self.changed() });
		return (this.node = E('div', { 'class': 'cbi-checkbox', 'id': this.options.id }, [ this.input, E('label', { 'for': id }) ]));
	},
	update: function() { this.input.checked = this.value == '1' }
});

var Select = UIElement.extend({
	render: function() {
		var self = this, choices = this.options.choices;
		this.input = E('select', { 'class': 'cbi-input-select', 'id': 'widget.' + this.options.id, 'disabled': this.options.disabled ? '' : null },
			Object.keys(choices).map(function(k) { return E('option', { 'value': k }, [ choices[k] ]) }));
		this.input.value = this.value || '';
		this.input.addEventListener('change', function() { self.value = self.input.value; self.changed() });
		return (this.node = E('div', { 'id': this.options.id }, [ this.input ]));
	},
	update: function() { this.input.value = this.value }
});

var DynamicList = UIElement.extend({
	render: function() {
		var self = this;
		this.list = E('div', { 'class': 'cbi-dynlist', 'id': this.options.id });
		this.input = E('input', { 'type': 'text', 'class': 'cbi-input-text', 'placeholder': this.options.placeholder || '' });
		var add = E('div', { 'class': 'add-item' }, [ this.input, E('button', { 'class': 'cbi-button cbi-button-add', 'click': function(ev) {
			ev.preventDefault();
			var v = self.input.value.trim();
			if (!v) return;
			if (self.validateValue(v)) { self.input.classList.add('cbi-input-invalid'); return }
			self.input.classList.remove('cbi-input-invalid');
			self.input.value = '';
			self.setValue(self.getValue().concat([ v ]));
			self.changed();
		} }, [ '+' ]) ]);
		this.value = L.toArray(this.value);
		this.node = E('div', {}, [ this.list, this.options.disabled ? E([]) : add ]);
		this.update();
		return this.node;
	},
	/* Clicking an entry removes it, as in LuCI's list widget. */
	update: function() {
		var self = this;
		dom.content(this.list, this.value.map(function(v) {
			return E('div', { 'class': 'item', 'data-value': v, 'title': _('Remove'), 'click': function() {
				if (self.options.disabled) return;
				self.setValue(self.value.filter(function(x) { return x !== v }));
				self.changed();
			} }, [ E('span', {}, [ v ]), ' ×' ]);
		}));
	},
	getValue: function() { return this.value.slice() },
	isValid: function() { return true }
});

var ui = Class.singleton({
	Checkbox: Checkbox, Select: Select, DynamicList: DynamicList,
	addNotification: function(title, children, cls) {
		var n = E('div', { 'class': 'alert-message ' + (cls || '') }, [ title ? E('h4', {}, [ title ]) : E([]), children ]);
		document.getElementById('maincontent').insertBefore(n, document.getElementById('view'));
		return n;
	},
	showModal: function(title, children) {
		dom.content(document.getElementById('modal'), [ E('h4', {}, [ title ]), children ]);
		document.body.classList.add('modal-overlay-active');
	},
	hideModal: function() { document.body.classList.remove('modal-overlay-active') },
	/* Calls the handler; while its promise runs, the button is disabled and spins. */
	createHandlerFn: function(ctx, fn) {
		var args = Array.prototype.slice.call(arguments, 2);
		return function(ev) {
			var btn = ev.currentTarget, f = typeof fn == 'string' ? ctx[fn] : fn;
			var r = f.apply(ctx, args.concat([ ev ]));
			if (r && typeof r.then == 'function' && btn) {
				btn.classList.add('spinning');
				btn.disabled = true;
				Promise.resolve(r).catch(L.error).then(function() { btn.classList.remove('spinning'); btn.disabled = false });
			}
			return r;
		};
	},
	changes: {
		setIndicator: function(n) {
			dom.content(document.getElementById('indicators'), n ? E('span', { 'class': 'label notice' }, [ _('Unsaved Changes') + ': ' + n ]) : []);
		},
		apply: function() {
			ui.showModal(_('Configuration') + ' / ' + _('Apply'), E('p', { 'class': 'spinning' }, [ _('Applying configuration changes…') ]));
			return callUci('apply', { rollback: false }).then(function() {
				ui.showModal(_('Configuration'), E('p', { 'id': 'applied' }, [ _('Configuration changes applied.') ]));
				window.setTimeout(function() { window.location = window.location.href.split('#')[0] }, env.apply_display * 1000);
			}, function(err) {
				ui.showModal(_('Configuration'), E('p', { 'class': 'alert-message error' }, [ _('Apply request failed: ') + err.message ]));
			});
		}
	}
});

/* form: a Map of one UCI config, its sections and their options. */
var AbstractValue = Class.extend({
	__init__: function(map, section, option, title, description) {
		this.map = map; this.section = section; this.option = option;
		this.title = title || ''; this.description = description || '';
		this.rmempty = true; this.widgets = {};
	},
	cbid: function(sid) { return 'cbid.' + this.map.config + '.' + sid + '.' + this.option },
	cfgvalue: function(sid) { return uci.get(this.map.config, sid, this.option) },
	formvalue: function(sid) { return this.widgets[sid].getValue() },
	getUIElement: function(sid) { return this.widgets[sid] },
	write: function(sid, v) { uci.set(this.map.config, sid, this.option, v) },
	remove: function(sid) { uci.unset(this.map.config, sid, this.option) },
	value: function(k, label) { (this.keylist = this.keylist || []).push(k); (this.vallist = this.vallist || []).push(label != null ? label : k) },
	validator: function(sid) {
		var self = this;
		return function(v) { return self.validate ? self.validate(sid, v) : true };
	},
	widgetValue: function(sid) { var v = this.cfgvalue(sid); return v != null ? v : this.default },
	render: function(sid) {
		var self = this, w = this.widgets[sid] = this.makeWidget(sid, {
			id: this.cbid(sid), validate: this.validator(sid), disabled: this.map.readonly });
		var node = w.render();
		if (this.onchange)
			node.addEventListener('widget-change', function() { self.onchange.call(self, null, sid, w.getValue()) });
		return E('div', { 'class': 'cbi-value', 'id': 'cbi-' + this.map.config + '-' + sid + '-' + this.option, 'data-name': this.option }, [
			E('label', { 'class': 'cbi-value-title', 'for': this.cbid(sid) }, [ this.title ]),
			E('div', { 'class': 'cbi-value-field' }, [ node, E('div', { 'class': 'cbi-value-description' }, [ this.description ]) ])
		]);
	},
	isEqual: function(a, b) { return JSON.stringify(L.toArray(a)) === JSON.stringify(L.toArray(b)) },
	/* form.js: invalid stops the save; an unchanged value is not written; an empty one is removed. */
	parse: function(sid) {
		var w = this.widgets[sid], fval = this.formvalue(sid), cval = this.cfgvalue(sid);
		if (!w.isValid()) return Promise.reject(new Error(_('One or more fields contain invalid values')));
		if (fval != null && fval !== '' && !(Array.isArray(fval) && !fval.length)) {
			if (!this.isEqual(cval, fval)) this.write(sid, fval);
		}
		else if (cval != null) this.remove(sid);
		return Promise.resolve();
	}
});

var form = Class.singleton({
	ListValue: AbstractValue.extend({
		makeWidget: function(sid, o) {
			var choices = {};
			(this.keylist || []).forEach(function(k, i) { choices[k] = this.vallist[i] }, this);
			return new Select(this.widgetValue(sid), Object.assign(o, { choices: choices }));
		}
	}),
	DynamicList: AbstractValue.extend({ makeWidget: function(sid, o) { return new DynamicList(L.toArray(this.widgetValue(sid)), o) } }),
	/* A flag equal to its default is removed, so the program's own default stays in force (form.js). */
	Flag: AbstractValue.extend({
		makeWidget: function(sid, o) { return new Checkbox(this.widgetValue(sid) || '0', o) },
		parse: function(sid) {
			var fval = this.formvalue(sid), cval = this.cfgvalue(sid);
			if (fval == (this.default || '0')) { if (cval != null) this.remove(sid) }
			else if (fval !== cval) this.write(sid, fval);
			return Promise.resolve();
		}
	}),
	NamedSection: Class.extend({
		__init__: function(map, sid, type, title, description) {
			this.map = map; this.sid = sid; this.type = type; this.title = title; this.description = description; this.children = [];
		},
		option: function(cls, name, title, description) {
			var o = new cls(this.map, this, name, title, description);
			this.children.push(o);
			return o;
		},
		render: function() {
			var self = this;
			return E('div', { 'class': 'cbi-section', 'id': 'cbi-' + this.map.config + '-' + this.sid }, [
				this.title ? E('h3', {}, [ this.title ]) : E([]),
				E('div', { 'class': 'cbi-section-node' }, this.children.map(function(o) { return o.render(self.sid) }))
			]);
		},
		parse: function() {
			var sid = this.sid;
			return Promise.all(this.children.map(function(o) { return o.parse(sid) }));
		}
	}),
	Map: Class.extend({
		__init__: function(config, title, description) {
			this.config = config; this.title = title; this.description = description; this.children = [];
		},
		section: function(cls) {
			var s = new (Function.prototype.bind.apply(cls, [ null, this ].concat(Array.prototype.slice.call(arguments, 1))))();
			this.children.push(s);
			return s;
		},
		lookupOption: function(name, sid) {
			for (var i = 0; i < this.children.length; i++)
				for (var j = 0; j < this.children[i].children.length; j++)
					if (this.children[i].children[j].option == name) return [ this.children[i].children[j], sid ];
			return null;
		},
		load: function() { return uci.load(this.config) },
		render: function() {
			var self = this;
			if (this.readonly == null) this.readonly = !L.hasViewPermission();
			return this.load().then(function() {
				var node = E('div', { 'class': 'cbi-map', 'id': 'cbi-' + self.config }, [
					self.title ? E('h2', {}, [ self.title ]) : E([]),
					self.description ? E('div', { 'class': 'cbi-map-descr' }, [ self.description ]) : E([])
				].concat(self.children.map(function(s) { return s.render() })));
				dom.bindClassInstance(node, self);
				return (self.root = node);
			});
		},
		save: function() {
			if (this.readonly) return Promise.resolve();
			var self = this;
			return Promise.all(this.children.map(function(s) { return s.parse() }))
				.then(function() { return uci.save() })
				.then(function() { ui.changes.setIndicator(0) })
				.catch(function(e) { ui.addNotification(null, E('p', {}, [ e.message ]), 'error'); throw e });
		}
	})
});

var View = Class.extend({
	__init__: function() {
		var vp = document.getElementById('view');
		dom.content(vp, E('div', { 'class': 'spinning' }, [ _('Loading view…') ]));
		return Promise.resolve(this.load()).then(this.render.bind(this)).then(function(nodes) {
			dom.content(vp, nodes);
			dom.append(vp, this.addFooter());
		}.bind(this)).catch(L.error);
	},
	load: function() {},
	render: function() {},
	handleSave: function() {
		return Promise.all(Array.prototype.map.call(document.querySelectorAll('#maincontent .cbi-map'), function(m) {
			return dom.callClassMethod(m, 'save');
		}));
	},
	handleSaveApply: function(ev, mode) {
		return this.handleSave(ev).then(function() { return ui.changes.apply(mode == '0') });
	},
	handleReset: function() { window.location.reload() },
	addFooter: function() {
		if (!this.handleSaveApply && !this.handleSave && !this.handleReset) return E([]);
		var ro = L.hasViewPermission() ? null : '';
		return E('div', { 'class': 'cbi-page-actions' }, [
			this.handleSaveApply ? E('button', { 'class': 'cbi-button cbi-button-apply', 'disabled': ro, 'click': ui.createHandlerFn(this, 'handleSaveApply') }, [ _('Save & Apply') ]) : E([]), ' ',
			this.handleSave ? E('button', { 'class': 'cbi-button cbi-button-save', 'disabled': ro, 'click': ui.createHandlerFn(this, 'handleSave') }, [ _('Save') ]) : E([]), ' ',
			this.handleReset ? E('button', { 'class': 'cbi-button cbi-button-reset', 'disabled': ro, 'click': ui.createHandlerFn(this, 'handleReset') }, [ _('Reset') ]) : E([])
		]);
	}
});

var classes = { baseclass: Class, dom: dom, poll: poll, rpc: rpc, uci: uci, ui: ui, form: form, view: View };

var L = window.L = {
	env: env,
	Class: Class,
	view: View,
	bind: function(fn, self) { var a = Array.prototype.slice.call(arguments, 2); return function() { return fn.apply(self, a.concat(Array.prototype.slice.call(arguments))) } },
	isObject: function(v) { return v != null && typeof v == 'object' },
	toArray: function(v) {
		if (v == null) return [];
		if (Array.isArray(v)) return v;
		var s = String(v).trim();
		return s == '' ? [] : s.split(/\s+/);
	},
	resolveDefault: function(v, d) { return Promise.resolve(v).catch(function() { return d }) },
	hasViewPermission: function() { return env.nodespec.satisfied ? !env.nodespec.readonly : null },
	error: function(e) {
		console.error(e);
		dom.content(document.getElementById('view'), E('div', { 'class': 'alert-message error' }, [ E('h4', {}, [ _('Error') ]), E('pre', {}, [ String(e && e.message || e) ]) ]));
	},
	/* luci.js's require: fetch the class file, resolve its 'require' directives, run the factory, instantiate. */
	require: function(name) {
		if (classes[name]) return Promise.resolve(classes[name]);
		return (classes[name] = fetch(env.resource + '/' + name.replace(/\./g, '/') + '.js').then(function(r) {
			if (!r.ok) throw new Error('HTTP error ' + r.status + ' while loading class file "' + name + '"');
			return r.text();
		}).then(function(src) {
			var deps = [], names = [], re = /^\s*'(use strict|require\s+(\S+?)(?:\s+as\s+(\w+))?)';/, m, rest = src;
			while ((m = re.exec(rest))) {
				rest = rest.slice(m[0].length);
				if (m[2]) { deps.push(L.require(m[2])); names.push(m[3] || m[2].replace(/\W/g, '_')) }
			}
			return Promise.all(deps).then(function(inst) {
				var factory = new Function([ 'window', 'document', 'L' ].concat(names).join(','), src + '\n//# sourceURL=' + name + '.js');
				var C = factory.apply(null, [ window, document, L ].concat(inst));
				if (!Class.isSubclass(C)) throw new TypeError('"' + name + '" factory yields invalid constructor');
				return (classes[name] = new C());
			});
		}));
	}
};
})();
