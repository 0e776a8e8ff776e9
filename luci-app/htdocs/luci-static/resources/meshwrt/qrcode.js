'use strict';
'require baseclass';

/*
 * A small QR code encoder (ISO/IEC 18004) for the login link: byte mode,
 * error correction L or M, versions 1 to 10 (up to 213 bytes at M), all
 * eight masks scored with the standard penalty rules. It runs in the
 * browser, so showing the link as a code needs no network access.
 */

/* Error correction codewords per block, and blocks, for versions 1..10. */
var EC_PER_BLOCK = {
	L: [ 7, 10, 15, 20, 26, 18, 20, 24, 30, 18 ],
	M: [ 10, 16, 26, 18, 24, 16, 18, 22, 22, 26 ]
};
var BLOCKS = {
	L: [ 1, 1, 1, 1, 1, 2, 2, 2, 2, 4 ],
	M: [ 1, 1, 1, 2, 2, 4, 4, 4, 5, 5 ]
};
/* Format information's two error correction level bits. */
var LEVEL_BITS = { L: 1, M: 0 };
/* Centres of the alignment patterns, from version 2 on. */
var ALIGN = [ [], [ 6, 18 ], [ 6, 22 ], [ 6, 26 ], [ 6, 30 ], [ 6, 34 ],
	[ 6, 22, 38 ], [ 6, 24, 42 ], [ 6, 26, 46 ], [ 6, 28, 50 ] ];
var MAX_VERSION = 10;

var MASKS = [
	function(r, c) { return (r + c) % 2 == 0 },
	function(r, c) { return r % 2 == 0 },
	function(r, c) { return c % 3 == 0 },
	function(r, c) { return (r + c) % 3 == 0 },
	function(r, c) { return (Math.floor(r / 2) + Math.floor(c / 3)) % 2 == 0 },
	function(r, c) { return r * c % 2 + r * c % 3 == 0 },
	function(r, c) { return (r * c % 2 + r * c % 3) % 2 == 0 },
	function(r, c) { return ((r + c) % 2 + r * c % 3) % 2 == 0 }
];

/* All modules, data and function patterns, of a version: 17 + 4v squared. */
function rawModules(v) {
	var n = 4 * v + 17, align = ALIGN[v - 1].length;
	var fn = 3 * 64 + 2 * (n - 16) + 31;          /* finders, separators, timing, format, dark module */
	if (align)
		fn += 25 * (align * align - 3) - 10 * (align - 2);
	if (v >= 7)
		fn += 36;
	return n * n - fn;
}

function dataCodewords(v, level) {
	return Math.floor(rawModules(v) / 8) - EC_PER_BLOCK[level][v - 1] * BLOCKS[level][v - 1];
}

/* GF(256) with the polynomial x^8 + x^4 + x^3 + x^2 + 1, as QR uses. */
function gfMul(a, b) {
	var r = 0;
	for (var i = 7; i >= 0; i--) {
		r = (r << 1) ^ ((r >>> 7) * 0x11d);
		r ^= ((b >>> i) & 1) * a;
	}
	return r;
}

/* The Reed-Solomon generator of this degree, highest power first (its leading 1 left out). */
function rsGenerator(degree) {
	var g = [], root = 1;
	for (var i = 0; i < degree; i++)
		g.push(0);
	g[degree - 1] = 1;
	for (var i = 0; i < degree; i++) {
		for (var j = 0; j < degree; j++)
			g[j] = gfMul(g[j], root) ^ (j + 1 < degree ? g[j + 1] : 0);
		root = gfMul(root, 2);
	}
	return g;
}

function rsRemainder(data, gen) {
	var rem = gen.map(function() { return 0 });
	data.forEach(function(b) {
		var f = b ^ rem.shift();
		rem.push(0);
		for (var i = 0; i < gen.length; i++)
			rem[i] ^= gfMul(gen[i], f);
	});
	return rem;
}

/* BCH code of the format (15,5) and version (18,6) information. */
function bch(value, bits, poly, polyBits) {
	var r = value << (polyBits - 1);
	for (var i = bits + polyBits - 2; i >= polyBits - 1; i--)
		if ((r >>> i) & 1)
			r ^= poly << (i - polyBits + 1);
	return (value << (polyBits - 1)) | r;
}

function utf8(text) {
	return Array.prototype.slice.call(new TextEncoder().encode(String(text)));
}

/* The bit stream of one byte-mode segment, terminated and padded to the version's capacity. */
function codewords(bytes, v, level) {
	var bits = [], cap = dataCodewords(v, level) * 8;
	var put = function(val, n) { for (var i = n - 1; i >= 0; i--) bits.push((val >>> i) & 1) };
	put(4, 4);
	put(bytes.length, v < 10 ? 8 : 16);
	bytes.forEach(function(b) { put(b, 8) });
	put(0, Math.min(4, cap - bits.length));
	put(0, (8 - bits.length % 8) % 8);
	for (var pad = 0xec; bits.length < cap; pad ^= 0xec ^ 0x11)
		put(pad, 8);
	var out = [];
	for (var i = 0; i < bits.length; i += 8)
		out.push(parseInt(bits.slice(i, i + 8).join(''), 2));
	return out;
}

/* Splits into blocks (short ones first), adds each block's error correction, interleaves. */
function interleave(data, v, level) {
	var nb = BLOCKS[level][v - 1], ec = EC_PER_BLOCK[level][v - 1];
	var raw = Math.floor(rawModules(v) / 8), shortLen = Math.floor(raw / nb), shorts = nb - raw % nb;
	var gen = rsGenerator(ec), blocks = [], k = 0;
	for (var i = 0; i < nb; i++) {
		var d = data.slice(k, k + shortLen - ec + (i < shorts ? 0 : 1));
		k += d.length;
		blocks.push({ data: d, ec: rsRemainder(d, gen) });
	}
	var out = [];
	for (var i = 0; i <= shortLen - ec; i++)
		blocks.forEach(function(b) { if (i < b.data.length) out.push(b.data[i]) });
	for (var i = 0; i < ec; i++)
		blocks.forEach(function(b) { out.push(b.ec[i]) });
	return out;
}

function Grid(v) {
	this.size = 4 * v + 17;
	this.dark = [];
	this.fixed = [];
	for (var i = 0; i < this.size; i++) {
		this.dark.push(new Array(this.size).fill(false));
		this.fixed.push(new Array(this.size).fill(false));
	}
}

Grid.prototype.set = function(r, c, dark) {
	if (r < 0 || c < 0 || r >= this.size || c >= this.size)
		return;
	this.dark[r][c] = dark;
	this.fixed[r][c] = true;
};

Grid.prototype.finder = function(r0, c0) {
	for (var dr = -4; dr <= 4; dr++)
		for (var dc = -4; dc <= 4; dc++) {
			var d = Math.max(Math.abs(dr), Math.abs(dc));
			this.set(r0 + dr, c0 + dc, d != 2 && d != 4);
		}
};

Grid.prototype.functionPatterns = function(v) {
	var n = this.size, pos = ALIGN[v - 1];
	for (var i = 0; i < n; i++) {
		this.set(6, i, i % 2 == 0);
		this.set(i, 6, i % 2 == 0);
	}
	this.finder(3, 3);
	this.finder(3, n - 4);
	this.finder(n - 4, 3);
	for (var a = 0; a < pos.length; a++)
		for (var b = 0; b < pos.length; b++) {
			/* No alignment pattern on a finder's corner. */
			if ((a == 0 && b == 0) || (a == 0 && b == pos.length - 1) || (a == pos.length - 1 && b == 0))
				continue;
			for (var dr = -2; dr <= 2; dr++)
				for (var dc = -2; dc <= 2; dc++)
					this.set(pos[a] + dr, pos[b] + dc, Math.max(Math.abs(dr), Math.abs(dc)) != 1);
		}
	if (v >= 7) {
		var vi = bch(v, 6, 0x1f25, 13);
		for (var i = 0; i < 18; i++) {
			var bit = ((vi >>> i) & 1) == 1, a = n - 11 + i % 3, b = Math.floor(i / 3);
			this.set(a, b, bit);
			this.set(b, a, bit);
		}
	}
	this.format(LEVEL_BITS.L, 0);   /* reserves the format areas; rewritten once the mask is chosen */
};

Grid.prototype.format = function(levelBits, mask) {
	var n = this.size, f = bch((levelBits << 3) | mask, 5, 0x537, 11) ^ 0x5412;
	var bit = function(i) { return ((f >>> i) & 1) == 1 };
	for (var i = 0; i <= 5; i++)
		this.set(i, 8, bit(i));
	this.set(7, 8, bit(6));
	this.set(8, 8, bit(7));
	this.set(8, 7, bit(8));
	for (var i = 9; i < 15; i++)
		this.set(8, 14 - i, bit(i));
	for (var i = 0; i < 8; i++)
		this.set(8, n - 1 - i, bit(i));
	for (var i = 8; i < 15; i++)
		this.set(n - 15 + i, 8, bit(i));
	this.set(n - 8, 8, true);    /* the dark module */
};

/* Data bits in two-column strips from the bottom right, upwards and downwards in turn. */
Grid.prototype.place = function(data) {
	var n = this.size, i = 0;
	for (var right = n - 1; right >= 1; right -= 2) {
		if (right == 6)
			right = 5;
		for (var k = 0; k < n; k++)
			for (var j = 0; j < 2; j++) {
				var c = right - j, up = ((right + 1) & 2) == 0, r = up ? n - 1 - k : k;
				if (this.fixed[r][c])
					continue;
				this.dark[r][c] = i < data.length * 8 && ((data[i >>> 3] >>> (7 - (i & 7))) & 1) == 1;
				i++;
			}
	}
};

Grid.prototype.applyMask = function(m) {
	for (var r = 0; r < this.size; r++)
		for (var c = 0; c < this.size; c++)
			if (!this.fixed[r][c] && MASKS[m](r, c))
				this.dark[r][c] = !this.dark[r][c];
};

/* The four penalty rules of the standard; the mask with the lowest score is used. */
Grid.prototype.penalty = function() {
	var n = this.size, d = this.dark, score = 0, darkCount = 0;
	var line = function(get) {
		var s = 0, run = 1, seq = [];
		for (var i = 0; i < n; i++) {
			var x = get(i);
			seq.push(x ? 1 : 0);
			if (i > 0 && x == get(i - 1)) {
				run++;
				if (run == 5) s += 3;
				else if (run > 5) s++;
			}
			else
				run = 1;
		}
		/* 1:1:3:1:1 finder-like runs with four light modules on either side. */
		var str = '0000' + seq.join('') + '0000';
		for (var at = str.indexOf('1011101'); at >= 0; at = str.indexOf('1011101', at + 1))
			if (str.substr(at - 4, 4) == '0000' || str.substr(at + 7, 4) == '0000')
				s += 40;
		return s;
	};
	for (var r = 0; r < n; r++) {
		score += line(function(i) { return d[r][i] });
		score += line(function(i) { return d[i][r] });
	}
	for (var r = 0; r < n; r++)
		for (var c = 0; c < n; c++) {
			if (d[r][c]) darkCount++;
			if (r < n - 1 && c < n - 1 && d[r][c] == d[r][c + 1] && d[r][c] == d[r + 1][c] && d[r][c] == d[r + 1][c + 1])
				score += 3;
		}
	score += Math.floor(Math.abs(darkCount * 20 - n * n * 10) / (n * n)) * 10;
	return score;
};

return baseclass.extend({
	/**
	 * Encodes text (UTF-8, byte mode) in the smallest version that holds it.
	 * Returns { version, level, mask, size, modules } with modules[row][col]
	 * true for dark; throws when the text is longer than version 10 holds.
	 * opts: { level: 'L' | 'M' (default 'M'), mask: 0..7 to force one }.
	 */
	encode: function(text, opts) {
		var level = (opts && opts.level) || 'M', bytes = utf8(text);
		if (!EC_PER_BLOCK[level])
			throw new Error('QR: error correction level must be L or M');
		var v = 1;
		while (v <= MAX_VERSION && 4 + (v < 10 ? 8 : 16) + bytes.length * 8 > dataCodewords(v, level) * 8)
			v++;
		if (v > MAX_VERSION)
			throw new Error('QR: ' + bytes.length + ' bytes do not fit in version ' + MAX_VERSION);
		var data = interleave(codewords(bytes, v, level), v, level);
		var best = null;
		for (var m = 0; m < 8; m++) {
			if (opts && opts.mask != null && opts.mask != m)
				continue;
			var g = new Grid(v);
			g.functionPatterns(v);
			g.place(data);
			g.applyMask(m);
			g.format(LEVEL_BITS[level], m);
			var p = g.penalty();
			if (!best || p < best.penalty)
				best = { penalty: p, grid: g, mask: m };
		}
		return { version: v, level: level, mask: best.mask, size: best.grid.size, modules: best.grid.dark };
	},

	/** An SVG element of the code with a four-module quiet zone, `px` pixels a module. */
	render: function(text, px) {
		var q = this.encode(text), size = q.size + 8, path = '';
		for (var r = 0; r < q.size; r++)
			for (var c = 0; c < q.size; c++)
				if (q.modules[r][c])
					path += 'M' + (c + 4) + ' ' + (r + 4) + 'h1v1h-1z';
		var ns = 'http://www.w3.org/2000/svg';
		var svg = document.createElementNS(ns, 'svg');
		svg.setAttribute('viewBox', '0 0 ' + size + ' ' + size);
		svg.setAttribute('width', size * (px || 4));
		svg.setAttribute('height', size * (px || 4));
		svg.setAttribute('shape-rendering', 'crispEdges');
		var bg = document.createElementNS(ns, 'rect'), fg = document.createElementNS(ns, 'path');
		bg.setAttribute('width', size);
		bg.setAttribute('height', size);
		bg.setAttribute('fill', '#fff');
		fg.setAttribute('d', path);
		fg.setAttribute('fill', '#000');
		svg.appendChild(bg);
		svg.appendChild(fg);
		return svg;
	}
});
