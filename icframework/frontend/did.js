// Candid interface text (.did) to @dfinity/candid IDL types, in the browser or Node.
//
// `parseDid(IDL, text)` reads a .did file — type definitions and one `service` — and
// returns `{ types, idlFactory, init }`: `types[name]` is the IDL type of each named
// type (recursive definitions become `IDL.Rec`), `idlFactory` is what
// `Actor.createActor` takes, and `init` the service's init argument types. A page can
// then build its actor from the app's own .did (the one `manage.py build` writes), so
// there is no second, hand-written copy of the interface to drift.
//
// Supported: every type constructor of the Candid spec (primitives, opt, vec, blob,
// record and variant with names, quoted names, numeric ids and tuple shorthand, func,
// service, principal), `query`/`composite_query`/`oneway` annotations, `//` and (nested)
// `/* */` comments. `import` is refused: the page has only the one file. A syntax error throws
// `DidSyntaxError` naming the line, the column and what was expected there.

export class DidSyntaxError extends Error {}

const PUNCTUATION = new Set(['{', '}', '(', ')', ';', ':', ',', '=']);

function tokenize(text) {
  const tokens = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const at = () => ({ line, column: i - lineStart + 1 });
  while (i < text.length) {
    const ch = text[i];
    if (ch === '\n') { i += 1; line += 1; lineStart = i; continue; }
    if (/\s/.test(ch)) { i += 1; continue; }
    if (text.startsWith('//', i)) { while (i < text.length && text[i] !== '\n') i += 1; continue; }
    if (text.startsWith('/*', i)) {
      // Block comments nest.
      const opened = line;
      let level = 0;
      do {
        if (i >= text.length) throw new DidSyntaxError(`line ${opened}: a /* comment is never closed`);
        if (text.startsWith('/*', i)) { level += 1; i += 2; } else if (text.startsWith('*/', i)) { level -= 1; i += 2; } else {
          if (text[i] === '\n') { line += 1; lineStart = i + 1; }
          i += 1;
        }
      } while (level > 0);
      continue;
    }
    const where = at();
    if (text.startsWith('->', i)) { tokens.push({ kind: '->', ...where }); i += 2; continue; }
    if (PUNCTUATION.has(ch)) { tokens.push({ kind: ch, ...where }); i += 1; continue; }
    if (ch === '"') {
      // Candid strings are UTF-8; \xx escapes are bytes, \u{...} code points.
      const bytes = [];
      const encoder = new TextEncoder();
      i += 1;
      while (i < text.length && text[i] !== '"') {
        if (text[i] !== '\\') {
          const codePoint = text.codePointAt(i);
          const char = String.fromCodePoint(codePoint);
          bytes.push(...encoder.encode(char));
          i += char.length;
          continue;
        }
        const next = text[i + 1];
        const simple = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', "'": "'" }[next];
        const unicode = /^u\{([0-9a-fA-F_]{1,8})\}/.exec(text.slice(i + 1, i + 13));
        if (simple !== undefined) {
          bytes.push(simple.charCodeAt(0));
          i += 2;
        } else if (/^[0-9a-fA-F]{2}/.test(text.slice(i + 1, i + 3))) {
          bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
          i += 3;
        } else if (unicode) {
          bytes.push(...encoder.encode(String.fromCodePoint(parseInt(unicode[1].replace(/_/g, ''), 16))));
          i += 1 + unicode[0].length;
        } else {
          throw new DidSyntaxError(`line ${line}: unknown escape \\${next} in a string; use \\n, \\t, \\", \\\\, \\xx or \\u{...}`);
        }
      }
      if (i >= text.length) throw new DidSyntaxError(`line ${where.line}: a string is never closed`);
      i += 1;
      tokens.push({ kind: 'text', value: new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes)), ...where });
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*|^[0-9][0-9_]*/.exec(text.slice(i, i + 256));
    if (!word) {
      throw new DidSyntaxError(`line ${where.line}, column ${where.column}: unexpected character ${JSON.stringify(ch)}`);
    }
    const kind = /^[0-9]/.test(word[0]) ? 'number' : 'name';
    tokens.push({ kind, value: word[0], ...where });
    i += word[0].length;
  }
  tokens.push({ kind: 'end', line, column: i - lineStart + 1 });
  return tokens;
}

const PRIMITIVES = {
  nat: 'Nat', nat8: 'Nat8', nat16: 'Nat16', nat32: 'Nat32', nat64: 'Nat64',
  int: 'Int', int8: 'Int8', int16: 'Int16', int32: 'Int32', int64: 'Int64',
  float32: 'Float32', float64: 'Float64', bool: 'Bool', text: 'Text', null: 'Null',
  reserved: 'Reserved', empty: 'Empty', principal: 'Principal',
};

class Parser {
  constructor(tokens) { this.tokens = tokens; this.pos = 0; }

  peek() { return this.tokens[this.pos]; }

  next() { const token = this.tokens[this.pos]; this.pos += 1; return token; }

  fail(expected) {
    const token = this.peek();
    const found = token.kind === 'end' ? 'the end of the file' : JSON.stringify(token.value ?? token.kind);
    throw new DidSyntaxError(`line ${token.line}, column ${token.column}: expected ${expected}, found ${found}`);
  }

  accept(kind, value) {
    const token = this.peek();
    if (token.kind === kind && (value === undefined || token.value === value)) { this.pos += 1; return token; }
    return null;
  }

  expect(kind, value) { return this.accept(kind, value) || this.fail(value ? `'${value}'` : `'${kind}'`); }

  // A type as a small syntax tree: { ref }, { prim }, { opt }, { vec }, { record }, { variant }, { func }, { service }.
  type() {
    const token = this.peek();
    if (token.kind !== 'name') this.fail('a type');
    this.pos += 1;
    const word = token.value;
    if (word === 'opt') return { opt: this.type() };
    if (word === 'vec') return { vec: this.type() };
    if (word === 'blob') return { vec: { prim: 'Nat8' } };
    if (word === 'record') return { record: this.fields(true) };
    if (word === 'variant') return { variant: this.fields(false) };
    if (word === 'func') return { func: this.funcSignature() };
    if (word === 'service') return { service: this.methods() };
    if (PRIMITIVES[word]) return { prim: PRIMITIVES[word] };
    return { ref: word };
  }

  // Record and variant fields: `name : T`, `"name" : T`, `7 : T`; record `T` alone is the
  // next tuple index, variant `name` alone is `name : null`.
  fields(isRecord) {
    this.expect('{');
    const out = [];
    let index = 0;
    while (!this.accept('}')) {
      const token = this.peek();
      const labelled = ['name', 'text', 'number'].includes(token.kind) && this.tokens[this.pos + 1].kind === ':';
      if (labelled) {
        this.pos += 2;
        const label = token.kind === 'number' ? `_${token.value.replace(/_/g, '')}_` : token.value;
        out.push([label, this.type()]);
        if (token.kind === 'number') index = Number(token.value.replace(/_/g, '')) + 1;
      } else if (isRecord) {
        out.push([`_${index}_`, this.type()]);
        index += 1;
      } else {
        if (!['name', 'text', 'number'].includes(token.kind)) this.fail('a variant tag');
        this.pos += 1;
        const tag = token.kind === 'number' ? `_${token.value.replace(/_/g, '')}_` : token.value;
        out.push([tag, { prim: 'Null' }]);
      }
      if (!this.accept(';')) { this.expect('}'); break; }
    }
    return out;
  }

  argTypes() {
    this.expect('(');
    const out = [];
    while (!this.accept(')')) {
      // Arguments may be named (`amount : nat`); the names are documentation only.
      const token = this.peek();
      if ((token.kind === 'name' || token.kind === 'text') && this.tokens[this.pos + 1].kind === ':') this.pos += 2;
      out.push(this.type());
      if (!this.accept(',')) { this.expect(')'); break; }
    }
    return out;
  }

  funcSignature() {
    const args = this.argTypes();
    this.expect('->');
    const results = this.argTypes();
    const annotations = [];
    while (this.peek().kind === 'name' && ['query', 'composite_query', 'oneway'].includes(this.peek().value)) {
      annotations.push(this.next().value);
    }
    return { args, results, annotations };
  }

  methods() {
    this.expect('{');
    const out = [];
    while (!this.accept('}')) {
      const token = this.peek();
      if (token.kind !== 'name' && token.kind !== 'text') this.fail('a method name');
      this.pos += 1;
      this.expect(':');
      const signature = this.peek().kind === 'name' && this.peek().value !== 'func'
        ? { ref: this.next().value }
        : (this.accept('name', 'func'), { func: this.funcSignature() });
      out.push([token.value, signature]);
      if (!this.accept(';')) { this.expect('}'); break; }
    }
    return out;
  }

  file() {
    const definitions = new Map();
    let service = null;
    while (this.peek().kind !== 'end') {
      if (this.accept('name', 'import')) throw new DidSyntaxError(`line ${this.peek().line}: import is not supported; inline the imported types`);
      if (this.accept('name', 'type')) {
        const name = this.expect('name').value;
        if (definitions.has(name)) throw new DidSyntaxError(`type ${name} is defined twice`);
        this.expect('=');
        definitions.set(name, this.type());
        this.expect(';');
        continue;
      }
      if (this.accept('name', 'service')) {
        if (this.peek().kind === 'name') this.next();   // an optional service name
        this.expect(':');
        const init = this.peek().kind === '(' ? this.argTypes() : [];
        if (init.length || this.tokens[this.pos - 1].kind === ')') this.expect('->');
        service = { init, body: this.peek().kind === 'name' ? { ref: this.next().value } : { service: this.methods() } };
        this.accept(';');
        continue;
      }
      this.fail("'type' or 'service'");
    }
    return { definitions, service };
  }
}

function build(IDL, definitions) {
  const types = {};
  const building = new Map();
  const resolve = (name) => {
    if (types[name]) return types[name];
    if (!definitions.has(name)) throw new DidSyntaxError(`type ${name} is used but never defined`);
    if (building.has(name)) return building.get(name);
    const rec = IDL.Rec();
    building.set(name, rec);
    const built = convert(definitions.get(name));
    rec.fill(built);
    // A definition that refers to itself keeps its Rec; others use the plain type.
    types[name] = usesSelf.has(name) ? rec : built;
    building.delete(name);
    return types[name];
  };
  const usesSelf = new Set();
  const convert = (node) => {
    if (node.ref) {
      if (building.has(node.ref)) usesSelf.add(node.ref);
      return resolve(node.ref);
    }
    if (node.prim) return IDL[node.prim];
    if (node.opt) return IDL.Opt(convert(node.opt));
    if (node.vec) return IDL.Vec(convert(node.vec));
    if (node.record) {
      const tuple = node.record.length > 0 && node.record.every(([label], i) => label === `_${i}_`);
      if (tuple) return IDL.Tuple(...node.record.map(([, t]) => convert(t)));
      return IDL.Record(Object.fromEntries(node.record.map(([label, t]) => [label, convert(t)])));
    }
    if (node.variant) return IDL.Variant(Object.fromEntries(node.variant.map(([label, t]) => [label, convert(t)])));
    if (node.func) return IDL.Func(node.func.args.map(convert), node.func.results.map(convert), node.func.annotations);
    if (node.service) return IDL.Service(Object.fromEntries(node.service.map(([name, t]) => [name, convert(t)])));
    throw new DidSyntaxError(`unknown type node ${JSON.stringify(node)}`);
  };
  for (const name of definitions.keys()) resolve(name);
  return { types, convert };
}

export function parseDid(IDL, text) {
  const { definitions, service } = new Parser(tokenize(text)).file();
  const { types, convert } = build(IDL, definitions);
  if (!service) throw new DidSyntaxError('the file has no service; a .did for an actor ends with `service : { ... }`');
  const body = convert(service.body);
  const init = service.init.map(convert);
  return { types, init, idlFactory: () => body };
}
