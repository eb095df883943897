import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import type { Resource } from '@medplum/fhirtypes';
import { ADDRESS_PARTS, COLUMN_PARAMS, HUMAN_NAME_PARTS, isPhonetic, searchParamsOf, splitUnion, type ComponentParamType, type SearchParamDef } from './parameters.js';
import { isoInstant } from '../instant.js';
import { dateBounds, dateRange, numberRange, MAX_INSTANT, MIN_INSTANT } from './ranges.js';
import { normalizeReference, normalizeString, ofTypeKey, phoneticKeys, referenceType, refKey, textKey, addTokenKeys, uriKey } from './tokens.js';
import type { CompositeIndexRow, DateIndexRow, NumberIndexRow, ResourceIndexes, StringIndexRow } from './types.js';

/** A value found by a parameter's expression, with its FHIR type when the model knows it. */
interface TypedValue {
  value: unknown;
  type: string | undefined;
}

/**
 * Receives the values an expression finds, one call per value, with its FHIR type when the model knows it.
 * Expressions hand their values straight to the indexing code instead of returning them in lists: extraction
 * runs on every write, and the lists and their { value, type } pairs were much of what it allocated (garbage
 * collection fell from 22% to 10% of extraction's time over the Synthea Patients and Encounters).
 */
interface Sink {
  accept(value: unknown, type: string | undefined): void;
}

type Evaluator = (resource: Resource, sink: Sink) => void;

/** A sink that keeps what it receives (composites and the few expressions that look at all values at once). */
class ListSink implements Sink {
  readonly values: TypedValue[] = [];
  accept(value: unknown, type: string | undefined): void {
    this.values.push({ value, type });
  }
}

function collect(evaluate: Evaluator, resource: Resource): TypedValue[] {
  const sink = new ListSink();
  evaluate(resource, sink);
  return sink.values;
}

interface CompiledParam {
  def: SearchParamDef;
  evaluators: Evaluator[];
  /** name and address parts another parameter stores */
  skipParts?: ReadonlySet<string>;
  /** `phonetic`: Soundex keys of names (isPhonetic) */
  phonetic: boolean;
}

/*
 * Extraction runs on every write, so it avoids the general FHIRPath engine where it can. Almost all official
 * expressions are plain paths, optionally ending in a type filter (`as dateTime`, `.as(Age)`), a reference
 * target filter (`.where(resolve() is Patient)`) or a property test (`.where(system='phone')`). Those are
 * compiled once into a walk over the JSON that uses the R4 model for element types and choice elements.
 * Any other expression is compiled once with the `fhirpath` engine and the R4 model, which measured several
 * times faster than @medplum/core's evaluator. Measured with bench/extract.ts (whole
 * extraction vs. only evaluating the expressions): Patient 38 µs vs 62 µs (fhirpath) vs 308 µs (@medplum/core);
 * Encounter 14 vs 38 vs 327; Appointment 8 vs 30 vs 279.
 */

const path2Type = r4Model.path2Type as Record<string, string | { code: string }>;
const choiceTypePaths = r4Model.choiceTypePaths;
const pathsDefinedElsewhere = r4Model.pathsDefinedElsewhere;

const PRIMITIVE_TYPES = new Set([
  'base64Binary', 'boolean', 'canonical', 'code', 'date', 'dateTime', 'decimal', 'id', 'instant', 'integer',
  'markdown', 'oid', 'positiveInt', 'string', 'time', 'unsignedInt', 'uri', 'url', 'uuid', 'xhtml',
]);

/** `DateTime` (as choice suffix) → `dateTime`; complex types keep their name. */
function choiceSuffixToType(suffix: string): string {
  const lower = suffix[0].toLowerCase() + suffix.slice(1);
  return PRIMITIVE_TYPES.has(lower) ? lower : suffix;
}

function modelType(path: string): string | undefined {
  const t = path2Type[path];
  if (t === undefined) return undefined;
  const name = typeof t === 'string' ? t : t.code;
  return name.startsWith('System.') ? 'string' : name;
}

interface Step {
  /** JSON property names to read, with the type each yields */
  keys: { key: string; type: string }[];
}

interface PathPlan {
  steps: Step[];
  /** a test of each value the last step finds */
  filter?: (value: unknown) => boolean;
}

const SIMPLE_PATH_RE =
  /^([A-Za-z]+)((?:\.[A-Za-z]+)*)(?:\.where\(resolve\(\) is ([A-Za-z]+)\)|\.where\(([A-Za-z]+) ?= ?'([^']*)'\)|\.as\(([A-Za-z]+)\)|\.ofType\(([A-Za-z]+)\)| as ([A-Za-z]+))?$/;

function stripParens(expr: string): string {
  let e = expr.trim();
  while (e.startsWith('(') && e.endsWith(')')) {
    const inner = e.slice(1, -1);
    // Only strip if the parentheses enclose the whole expression.
    let depth = 0;
    let whole = true;
    for (const c of inner) {
      if (c === '(') depth++;
      else if (c === ')' && --depth < 0) {
        whole = false;
        break;
      }
    }
    if (!whole) break;
    e = inner.trim();
  }
  return e;
}

/** Plans a plain path over the JSON, or undefined when the expression needs the FHIRPath engine. */
function planSimplePath(expression: string): PathPlan | undefined {
  const m = SIMPLE_PATH_RE.exec(stripParens(expression));
  if (!m) return undefined;
  const [, root, rest, resolveIs, whereProp, whereValue, asFn, ofType, asOp] = m;
  const typeFilter = asFn ?? ofType ?? asOp;
  const names = rest.split('.').filter(Boolean);
  if (names.length === 0) return undefined;
  const steps: Step[] = [];
  let prefix = root;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    let key = `${prefix}.${name}`;
    if (path2Type[key] === undefined && !choiceTypePaths[key] && pathsDefinedElsewhere[prefix]) {
      key = `${pathsDefinedElsewhere[prefix]}.${name}`;
    }
    const choices = choiceTypePaths[key];
    if (choices) {
      let options = choices.map((suffix) => ({ key: name + suffix, type: choiceSuffixToType(suffix) }));
      if (i === names.length - 1 && typeFilter) {
        options = options.filter((o) => o.type.toLowerCase() === typeFilter.toLowerCase());
      } else if (i !== names.length - 1) {
        return undefined; // navigating through a choice element: rare, leave it to the engine
      }
      steps.push({ keys: options });
      continue;
    }
    const type = modelType(key);
    if (!type) return undefined;
    steps.push({ keys: [{ key: name, type }] });
    prefix = type === 'BackboneElement' || type === 'Element' ? key : type;
  }
  const plan: PathPlan = { steps };
  const last = steps[steps.length - 1];
  if (typeFilter && last.keys.length === 1 && last.keys[0].type.toLowerCase() !== typeFilter.toLowerCase()) {
    return undefined;
  }
  if (resolveIs) {
    plan.filter = (value) => {
      const ref = (value as { reference?: string; type?: string }) ?? {};
      if (ref.type) return ref.type === resolveIs;
      return typeof ref.reference === 'string' && referenceType(ref.reference) === resolveIs;
    };
  } else if (whereProp) {
    plan.filter = (value) => (value as Record<string, unknown> | undefined)?.[whereProp] === whereValue;
  }
  return plan;
}

/**
 * Walks a plan's steps from `obj` (a resource, or an element for a composite's component) and gives the values
 * of the last step to the sink. Depth first: the values arrive in the order a step-by-step evaluation lists them.
 */
function walk(plan: PathPlan, obj: Record<string, unknown>, step: number, sink: Sink): void {
  for (const { key, type } of plan.steps[step].keys) {
    const v = obj[key];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) {
      for (const e of v) visit(plan, e, type, step, sink);
    } else visit(plan, v, type, step, sink);
  }
}

function visit(plan: PathPlan, value: unknown, type: string, step: number, sink: Sink): void {
  if (value === undefined || value === null) return;
  if (step === plan.steps.length - 1) {
    if (!plan.filter || plan.filter(value)) sink.accept(value, type);
  } else if (typeof value === 'object') {
    walk(plan, value as Record<string, unknown>, step + 1, sink);
  }
}

/*
 * `Patient.deceased.exists() and Patient.deceased != false` (the `deceased` parameter) is the one official
 * expression of the common resource types that is more than a path, and the FHIRPath engine spent more time on
 * it than on all other parameters of a Patient together (40–60 µs a create under load). Its value is a single
 * boolean: true when the element is present and is not the boolean false (a deceasedDateTime is not equal to
 * false), false otherwise. test/fhir/search/extract.test.ts checks it against the engine.
 */
const EXISTS_AND_NOT_FALSE_RE = /^([A-Za-z]+(?:\.[A-Za-z]+)+)\.exists\(\) and \1 != false$/;

function planExistsAndNotFalse(expression: string): Evaluator | undefined {
  const m = EXISTS_AND_NOT_FALSE_RE.exec(stripParens(expression));
  const plan = m ? planSimplePath(m[1]) : undefined;
  if (!plan) return undefined;
  return (resource, sink) => {
    const found = new ListSink();
    walk(plan, resource as unknown as Record<string, unknown>, 0, found);
    const values = found.values;
    sink.accept(values.length > 0 && !(values.length === 1 && values[0].value === false), 'boolean');
  };
}

function compileExpressionPart(part: string): Evaluator {
  const plan = planSimplePath(part);
  if (plan) return (resource, sink) => walk(plan, resource as unknown as Record<string, unknown>, 0, sink);
  const existsAndNotFalse = planExistsAndNotFalse(part);
  if (existsAndNotFalse) return existsAndNotFalse;
  const fn = fhirpath.compile(part, r4Model);
  return (resource, sink) => {
    let out: unknown[];
    try {
      out = fn(resource) as unknown[];
    } catch {
      // An expression the engine cannot evaluate on this resource (e.g. resolve() without a resolver)
      // must not make the write fail; the parameter simply has no values.
      return;
    }
    for (const value of out) sink.accept(value, undefined);
  };
}

/** Whether the path walk handles an expression (for tests and the benchmark). */
export function isFastPath(expressionPart: string): boolean {
  return planSimplePath(expressionPart) !== undefined || planExistsAndNotFalse(expressionPart) !== undefined;
}

const compiledByType = new Map<string, CompiledParam[]>();

function compiledParams(resourceType: string): CompiledParam[] {
  let list = compiledByType.get(resourceType);
  if (!list) {
    list = [];
    for (const def of searchParamsOf(resourceType).values()) {
      if (COLUMN_PARAMS.has(def.code) || def.type === 'composite') continue;
      // A parameter that shares another's rows (SearchParamDef.rows) has no rows of its own to write; `phonetic`
      // still writes its Soundex keys.
      if (def.rows && !isPhonetic(def)) continue;
      list.push({
        def,
        evaluators: def.expressionParts.map(compileExpressionPart),
        phonetic: isPhonetic(def),
        ...(def.partsStoredElsewhere ? { skipParts: new Set(def.partsStoredElsewhere) } : {}),
      });
    }
    compiledByType.set(resourceType, list);
  }
  return list;
}

/** Guesses the FHIR type of a value from its shape, for values the engine returned without a type. */
function inferType(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number':
      return 'decimal';
    case 'object': {
      if (value === null) return undefined;
      const o = value as Record<string, unknown>;
      if ('reference' in o) return 'Reference';
      if ('coding' in o) return 'CodeableConcept';
      if ('start' in o || 'end' in o) return 'Period';
      if ('family' in o || 'given' in o) return 'HumanName';
      if ('line' in o || 'city' in o || 'postalCode' in o || 'country' in o) return 'Address';
      if (typeof o.value === 'number') return 'Quantity';
      if ('code' in o) return 'Coding';
      if ('value' in o && ('system' in o || 'type' in o)) return 'Identifier';
      if ('event' in o || 'repeat' in o) return 'Timing';
      if ('low' in o || 'high' in o) return 'Range';
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The keys of one resource (tokens, references or `:text` values) in the order they are first found, each once.
 *
 * Every key begins with its parameter's code and the kind character after it (tokens.ts), so two parameters
 * never make the same key, and extraction finds one parameter's values before the next parameter's (`next()`
 * marks the start). A key can only repeat one of the few found before it for the same parameter, and comparing
 * with those costs less than a Set, which hashes every new key: most keys are new, long and never looked up
 * again. A parameter with many values (a long list of codings) gets a Set after all, so the comparisons stay
 * few.
 */
class KeyList {
  readonly keys: string[] = [];
  private from = 0;
  private seen: Set<string> | undefined;

  /** The keys that follow are another parameter's. */
  next(): void {
    this.from = this.keys.length;
    this.seen = undefined;
  }

  add(key: string): void {
    const keys = this.keys;
    if (this.seen) {
      if (this.seen.has(key)) return;
      this.seen.add(key);
    } else {
      for (let i = this.from; i < keys.length; i++) if (keys[i] === key) return;
      if (keys.length - this.from >= KeyList.MAX_COMPARED) this.seen = new Set(keys.slice(this.from)).add(key);
    }
    keys.push(key);
  }

  private static readonly MAX_COMPARED = 16;
}

class IndexCollector {
  readonly tokens = new KeyList();
  readonly refs = new KeyList();
  readonly texts = new KeyList();
  readonly strings: StringIndexRow[] = [];
  readonly dates: DateIndexRow[] = [];
  readonly numbers: NumberIndexRow[] = [];
  /** where the current parameter's string rows begin (a parameter stores each text once) */
  private stringsFrom = 0;

  /** The values that follow are another parameter's. */
  nextParam(): void {
    this.tokens.next();
    this.refs.next();
    this.texts.next();
    this.stringsFrom = this.strings.length;
  }

  string(param: string, text: unknown): void {
    if (typeof text !== 'string' || text === '') return;
    const strings = this.strings;
    for (let i = this.stringsFrom; i < strings.length; i++) if (strings[i].exact === text && strings[i].param === param) return;
    strings.push({ param, value: normalizeString(text), exact: text });
  }

  /** Text of a coded value, for the token parameter's `:text` modifier. */
  text(param: string, text: unknown): void {
    if (typeof text === 'string' && text !== '') this.texts.add(textKey(param, normalizeString(text)));
  }

  token(param: string, system: unknown, code: unknown): void {
    const s = typeof system === 'string' ? system : undefined;
    const c = typeof code === 'string' ? code : typeof code === 'boolean' || typeof code === 'number' ? String(code) : undefined;
    addTokenKeys(this.tokens, param, s, c);
  }

  date(param: string, low: string, high: string): void {
    this.dates.push({ param, low, high });
  }

  result(): ResourceIndexes {
    return { tokens: this.tokens.keys, refs: this.refs.keys, texts: this.texts.keys, strings: this.strings, dates: this.dates, numbers: this.numbers };
  }
}

type Json = Record<string, unknown>;

function indexCoding(c: IndexCollector, param: string, coding: Json): void {
  c.token(param, coding.system, coding.code);
  c.text(param, coding.display);
}

function indexToken(c: IndexCollector, param: string, v: unknown, valueType: string | undefined): void {
  const type = valueType ?? inferType(v);
  if (typeof v !== 'object' || v === null) {
    c.token(param, undefined, v);
    return;
  }
  const o = v as Json;
  switch (type) {
    case 'CodeableConcept':
      for (const coding of (o.coding as Json[] | undefined) ?? []) indexCoding(c, param, coding);
      c.text(param, o.text);
      return;
    case 'Coding':
      indexCoding(c, param, o);
      return;
    case 'Identifier': {
      c.token(param, o.system, o.value);
      const idType = o.type as Json | undefined;
      if (idType && typeof o.value === 'string') {
        for (const coding of (idType.coding as Json[] | undefined) ?? []) {
          if (typeof coding.system === 'string' && typeof coding.code === 'string') {
            c.tokens.add(ofTypeKey(param, coding.system, coding.code, o.value));
          }
        }
        c.text(param, idType.text);
      }
      return;
    }
    case 'ContactPoint':
      // The specification searches ContactPoint.value; its system (phone, email) is picked by the parameter.
      c.token(param, undefined, o.value);
      return;
    case 'Quantity':
      c.token(param, o.system, o.code ?? o.unit);
      return;
    case 'Reference':
      if (o.identifier) indexToken(c, param, o.identifier, 'Identifier');
      return;
    default:
      return;
  }
}

/** `skip`: parts another parameter stores (SearchParamDef.partsStoredElsewhere). */
function indexString(c: IndexCollector, param: string, v: unknown, valueType: string | undefined, skip?: ReadonlySet<string>): void {
  if (typeof v === 'string') {
    c.string(param, v);
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const type = valueType ?? inferType(v);
  const parts = type === 'HumanName' ? HUMAN_NAME_PARTS : type === 'Address' ? ADDRESS_PARTS : undefined;
  if (!parts) return;
  const o = v as Json;
  for (const p of parts) {
    if (skip?.has(p)) continue;
    const part = o[p];
    if (Array.isArray(part)) for (const s of part) c.string(param, s);
    else c.string(param, part);
  }
}

/** Soundex keys of the family and given names of a HumanName (see phoneticKeys); its text rows are `name`'s. */
function indexPhonetic(c: IndexCollector, param: string, v: unknown): void {
  const name = typeof v === 'object' && v !== null ? (v as Json) : undefined;
  const words = typeof v === 'string' ? [v] : name ? [name.family, ...((name.given as unknown[] | undefined) ?? [])] : [];
  for (const w of words) if (typeof w === 'string') for (const k of phoneticKeys(param, w)) c.tokens.add(k);
}

function indexDateText(c: IndexCollector, param: string, text: unknown): void {
  if (typeof text !== 'string') return;
  const r = dateRange(text);
  if (r) c.date(param, r.low, r.high);
}

function indexDate(c: IndexCollector, param: string, v: unknown, valueType: string | undefined): void {
  if (typeof v === 'string') {
    indexDateText(c, param, v);
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const o = v as Json;
  const type = valueType ?? inferType(v);
  if (type === 'Period') {
    const start = typeof o.start === 'string' ? dateBounds(o.start) : undefined;
    const end = typeof o.end === 'string' ? dateBounds(o.end) : undefined;
    if (start || end) c.date(param, start ? isoInstant(start.start) : MIN_INSTANT, end ? isoInstant(end.end - 1) : MAX_INSTANT);
  } else if (type === 'Timing') {
    for (const e of (o.event as unknown[] | undefined) ?? []) indexDateText(c, param, e);
    const bounds = (o.repeat as Json | undefined)?.boundsPeriod;
    if (bounds) indexDate(c, param, bounds, 'Period');
  }
}

function indexNumber(c: IndexCollector, param: string, v: unknown, valueType: string | undefined, withUnits: boolean): void {
  if (typeof v === 'number') {
    const r = numberRange(String(v));
    if (r) c.numbers.push({ param, low: r.low, high: r.high });
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const o = v as Json;
  const type = valueType ?? inferType(v);
  if ((type === 'Quantity' || type === 'Age' || type === 'Duration' || type === 'Distance' || type === 'Count' || type === 'Money' || type === 'SimpleQuantity') && typeof o.value === 'number') {
    const r = numberRange(String(o.value));
    if (!r) return;
    const row: NumberIndexRow = { param, low: r.low, high: r.high };
    if (withUnits) {
      if (typeof o.system === 'string') row.system = o.system;
      const code = o.code ?? o.unit ?? o.currency;
      if (typeof code === 'string') row.code = code;
    }
    c.numbers.push(row);
  } else if (type === 'Range') {
    const low = (o.low as Json | undefined)?.value;
    const high = (o.high as Json | undefined)?.value;
    if (typeof low === 'number' || typeof high === 'number') {
      c.numbers.push({
        param,
        low: typeof low === 'number' ? low : -1e300,
        high: typeof high === 'number' ? high : 1e300,
        ...(withUnits && typeof (o.low as Json | undefined)?.code === 'string' ? { code: (o.low as Json).code as string } : {}),
      });
    }
  }
}

function indexReference(c: IndexCollector, param: string, v: unknown): void {
  // canonical and uri-valued references are stored as written
  const raw = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as Json).reference : undefined;
  const ref = normalizeReference(typeof raw === 'string' ? raw : undefined);
  if (ref) c.refs.add(refKey(param, ref));
}

/** Indexes one value of a parameter of type `type`; `valueType` is its FHIR type when the model knows it. */
function indexValue(
  c: IndexCollector,
  type: ComponentParamType,
  param: string,
  value: unknown,
  valueType: string | undefined,
  skipParts?: ReadonlySet<string>,
): void {
  switch (type) {
    case 'token':
      indexToken(c, param, value, valueType);
      break;
    case 'uri':
      if (typeof value === 'string') c.tokens.add(uriKey(param, value));
      break;
    case 'reference':
      indexReference(c, param, value);
      break;
    case 'string':
      indexString(c, param, value, valueType, skipParts);
      break;
    case 'date':
      indexDate(c, param, value, valueType);
      break;
    case 'number':
      indexNumber(c, param, value, valueType, false);
      break;
    case 'quantity':
      indexNumber(c, param, value, valueType, true);
      break;
  }
}

/** Indexes the values of one parameter at a time (`param`) into a collector. */
class ParamSink implements Sink {
  param: CompiledParam | undefined;

  constructor(private readonly c: IndexCollector) {}

  accept(value: unknown, type: string | undefined): void {
    const { def, skipParts, phonetic } = this.param!;
    if (phonetic) indexPhonetic(this.c, def.code, value);
    else indexValue(this.c, def.type as ComponentParamType, def.code, value, type, skipParts);
  }
}

/*
 * Composite parameters. Each element of the base expression (the Observation itself, each
 * Observation.component, each Group.characteristic…) is evaluated on its own, and every component value found
 * in it is stored with the element's ordinal, so a search can require all components to match in one element.
 * Component expressions are relative to the element; they are compiled into path walks from the element by
 * planning `<base path>.<component expression>` and dropping the steps of the base path. `%resource.x` reads
 * from the whole resource.
 */

type ElementEvaluator = (element: TypedValue, resource: Resource) => TypedValue[];

/** One row set of fhir_search_composite: a base expression part and the components read from its elements. */
interface CompiledComposite {
  /** the name the rows are stored under (SearchParamDef.storage) */
  param: string;
  types: ComponentParamType[];
  /** the elements of the base expression */
  elements: (resource: Resource) => TypedValue[];
  components: ElementEvaluator[][];
}

/** The plain path of a base expression part (`Observation.component`), or undefined when it has filters. */
function basePath(part: string): string | undefined {
  const e = stripParens(part);
  return /^[A-Za-z]+(\.[A-Za-z]+)*$/.test(e) ? e : undefined;
}

function compileBase(part: string): (resource: Resource) => TypedValue[] {
  const e = stripParens(part);
  // A bare type name: the resource itself is the one element.
  if (/^[A-Za-z]+$/.test(e)) return (resource) => (resource.resourceType === e ? [{ value: resource, type: e }] : []);
  const evaluate = compileExpressionPart(part);
  return (resource) => collect(evaluate, resource);
}

function compileComponentPart(base: string | undefined, resourceType: string, part: string): ElementEvaluator | undefined {
  const e = stripParens(part);
  if (e.startsWith('%resource.')) {
    const onResource = compileExpressionPart(`${resourceType}.${e.slice('%resource.'.length)}`);
    return (_element, resource) => collect(onResource, resource);
  }
  if (!base) return undefined;
  const plan = planSimplePath(`${base}.${e}`);
  if (!plan) return undefined;
  const skip = base.split('.').length - 1;
  const relative: PathPlan = { steps: plan.steps.slice(skip), filter: plan.filter };
  return (element) => {
    const found = new ListSink();
    if (typeof element.value === 'object' && element.value !== null) walk(relative, element.value as Record<string, unknown>, 0, found);
    return found.values;
  };
}

/** Whether every component of a composite parameter of that type compiles to a path walk (for tests). */
export function isCompilableComposite(resourceType: string, def: SearchParamDef): boolean {
  return def.expressionParts.every((part) =>
    (def.components ?? []).every((c) => splitUnion(c.expression).every((p) => compileComponentPart(basePath(part), resourceType, p) !== undefined)),
  );
}

const compositesByType = new Map<string, CompiledComposite[]>();

function compiledComposites(resourceType: string): CompiledComposite[] {
  let list = compositesByType.get(resourceType);
  if (!list) {
    const byStorage = new Map<string, CompiledComposite>();
    for (const def of searchParamsOf(resourceType).values()) {
      if (def.type !== 'composite' || !def.components || !def.storage) continue;
      def.expressionParts.forEach((part, i) => {
        const param = def.storage![i];
        if (byStorage.has(param)) return; // rows shared with another parameter
        const path = basePath(part);
        byStorage.set(param, {
          param,
          types: def.components!.map((c) => c.type),
          elements: compileBase(part),
          components: def.components!.map((c) =>
            splitUnion(c.expression)
              .map((p) => compileComponentPart(path, resourceType, p))
              .filter((f): f is ElementEvaluator => f !== undefined),
          ),
        });
      });
    }
    list = [...byStorage.values()];
    compositesByType.set(resourceType, list);
  }
  return list;
}

/** Whether resources of that type have composite parameters (and so rows in fhir_search_composite). */
export function hasCompositeParams(resourceType: string): boolean {
  return compiledComposites(resourceType).length > 0;
}

/** The composite rows of one component's values, read back from a collector that used the parameter name ''. */
function componentRows(c: IndexCollector, type: ComponentParamType, param: string, elem: number, part: number): CompositeIndexRow[] {
  switch (type) {
    case 'token':
      return c.tokens.keys.filter((k) => !k.startsWith(':')).map((key) => ({ param, elem, part, key }));
    case 'uri':
      return c.tokens.keys.map((key) => ({ param, elem, part, key }));
    case 'reference':
      return c.refs.keys.map((key) => ({ param, elem, part, key }));
    case 'string':
      return c.strings.map((s) => ({ param, elem, part, key: s.value, exact: s.exact }));
    case 'date':
      return c.dates.map((d) => ({ param, elem, part, lowAt: d.low, highAt: d.high }));
    case 'number':
    case 'quantity':
      return c.numbers.map((n) => ({ param, elem, part, low: n.low, high: n.high, system: n.system, code: n.code }));
  }
}

/** The composite keys of one token value, remembered by the value's identity for the rest of one extraction. */
function tokenComponentKeys(tv: TypedValue, cache: Map<unknown, string[]>): string[] {
  const cacheable = typeof tv.value === 'object' && tv.value !== null;
  let keys = cacheable ? cache.get(tv.value) : undefined;
  if (!keys) {
    const c = new IndexCollector();
    indexToken(c, '', tv.value, tv.type);
    // `:of-type` keys are not part of composite search
    keys = c.tokens.keys.filter((k) => !k.startsWith(':'));
    if (cacheable) cache.set(tv.value, keys);
  }
  return keys;
}

function extractComposites(resource: Resource, composites: CompiledComposite[]): CompositeIndexRow[] {
  const rows: CompositeIndexRow[] = [];
  const tokenKeyCache = new Map<unknown, string[]>();
  for (const base of composites) {
    const { param, types } = base;
    let elem = 0;
    for (const element of base.elements(resource)) {
      const ordinal = elem++;
      // An element without a value for some component can never match a composite search. The path walks
      // are cheap and most elements lack one (an Observation has one value[x]), so all components are read,
      // the last (the value[x]) first, before any is indexed.
      const values: TypedValue[][] = new Array(types.length);
      let complete = true;
      for (let part = types.length - 1; part >= 0 && complete; part--) {
        const evaluators = base.components[part];
        const found = evaluators.length === 1 ? evaluators[0](element, resource) : evaluators.flatMap((e) => e(element, resource));
        values[part] = found;
        complete = found.length > 0;
      }
      if (!complete) continue;
      const found: CompositeIndexRow[] = [];
      for (let part = 0; part < types.length; part++) {
        let partRows: CompositeIndexRow[];
        if (types[part] === 'token') {
          // The same CodeableConcept (Observation.code) is a component of several parameters: keyed once.
          const keys = new Set<string>();
          for (const tv of values[part]) for (const k of tokenComponentKeys(tv, tokenKeyCache)) keys.add(k);
          partRows = [...keys].map((key) => ({ param, elem: ordinal, part, key }));
        } else {
          const c = new IndexCollector();
          for (const tv of values[part]) indexValue(c, types[part], '', tv.value, tv.type);
          partRows = componentRows(c, types[part], param, ordinal, part);
        }
        if (partRows.length === 0) break;
        found.push(...partRows);
      }
      if (found.length > 0 && found[found.length - 1].part === types.length - 1) rows.push(...found);
    }
  }
  return rows;
}

/**
 * The search values of a resource, for every official R4 search parameter of its type plus the common
 * `_tag`, `_profile`, `_security` and `_source` (`_id` and `_lastUpdated` are columns).
 */
export function extractIndexes(resource: Resource): ResourceIndexes {
  const c = new IndexCollector();
  const sink = new ParamSink(c);
  for (const param of compiledParams(resource.resourceType)) {
    sink.param = param;
    c.nextParam();
    for (const evaluate of param.evaluators) evaluate(resource, sink);
  }
  const result = c.result();
  const composites = compiledComposites(resource.resourceType);
  if (composites.length > 0) result.composites = extractComposites(resource, composites);
  return result;
}
