package index

import (
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
	"github.com/klauspost/compress/s2"
)

// A block is sealed when it reaches blockMaxChanges changes or
// blockMaxBytes of elements, and at every commit. A lookup of one change
// reads and decompresses its whole block: with 256 KiB blocks a key history
// of 10 versions took 3.1 ms (median, p99 9.2 ms) on the benchmark's
// 5,000,000 changes, with 64 KiB 1.1 ms (p99 4.0 ms), and ingest did not
// slow down. Binary elements are small (the narrow bench table's ~60 bytes
// against ~200 in JSON): blockMaxChanges was 256, which made blocks of
// 15 KiB of them, with a row, a run row and a statement each per 256
// changes.
const (
	blockMaxChanges = 1024
	blockMaxBytes   = 64 << 10
)

// maxRunChanges bounds the changes of a key run, so that a lookup of key K
// looks at the runs starting from K-maxRunChanges+1 on (sqlKeyRuns). Runs
// written by a bintap with a larger bound would not all be found: it must
// never decrease.
const maxRunChanges = 1024

// Assembler turns encoded changes into what the Writer stores: compressed
// blocks, key rows, transaction records, and the table and definition rows
// of tables seen for the first time. It gives every change, transaction,
// table and definition its id itself (the index has one writer), so it
// needs no database: the stream runs it on its own goroutine while the
// Writer inserts the previous Batch. Not safe for concurrent use.
type Assembler struct {
	nextID, nextTx int64

	lastTx    *change.Tx
	lastTxID  int64
	lastTxKey txKey
	cur       *txRec // the transaction changes are being added to

	tables   map[string]int64      // "schema\x00name" → table_id
	defs     map[defKey]int64      // stored definitions → definition_id
	versions map[*change.Table]ids // table versions seen → their ids
	lastT    *change.Table         // the table version of the last change, and its ids
	lastIDs  ids
	maxTable int64    // highest table_id given
	maxDef   int64    // highest definition_id given
	sinceSet bool     // covered_since is recorded
	added    int64    // bytes of elements added, in all
	blk      block    // the block being filled
	out      Batch    // what Take hands over next
	enc      *Encoder // for the Writer's Add
	jsonKeys bool     // key rows as one JSON text (SQLite), else as keyRows
	// free holds block text buffers that Batch.Compress is done with, for
	// the next blocks (a sealed block hands its buffer over with it).
	free chan []byte
	// zfree holds buffers for compressed blocks, returned by the Writer
	// once it has inserted them.
	zfree chan []byte
}

// freeBuffers is how many block buffers the free list keeps.
const freeBuffers = 64

type ids struct{ table, def int64 }

type defKey struct {
	table   int64
	version int
	def     string
}

// Batch is the work the Writer stores for one Take: rows of new tables and
// definitions, sealed blocks with their keys, and transaction records
// (new, or with more changes than stored).
type Batch struct {
	tables   []tableRow
	defs     []defRow
	blocks   []sealedBlock
	txs      []txRec
	since    int64 // commit time of the first transaction ever, when hasSince
	hasSince bool
	free     chan []byte // where Compress returns the blocks' text buffers
	zfree    chan []byte // buffers for compressed blocks
}

// release hands the compressed blocks' buffers back for reuse once they
// are stored.
func (b *Batch) release() {
	for i := range b.blocks {
		k := &b.blocks[i]
		if z := k.data; cap(z) <= 2*blockMaxBytes {
			select {
			case b.zfree <- z[:0]:
			default:
			}
		}
		k.data = nil
	}
}

// Compress compresses the blocks of b not compressed yet. The Writer does
// it when it stores b; the stream calls it on a goroutine of its own, so
// that compressing overlaps both encoding the next changes and inserting
// the previous ones.
func (b *Batch) Compress() {
	for i := range b.blocks {
		k := &b.blocks[i]
		if k.data != nil {
			continue
		}
		var z []byte
		select {
		case z = <-b.zfree:
		default:
		}
		k.data = s2.Encode(z[:cap(z)], k.text)
		if cap(k.text) <= 2*blockMaxBytes { // not the buffer of a huge change
			select {
			case b.free <- k.text[:0]:
			default:
			}
		}
		k.text = nil
	}
}

// Empty reports whether b holds nothing to store.
func (b *Batch) Empty() bool {
	return len(b.tables) == 0 && len(b.defs) == 0 && len(b.blocks) == 0 && len(b.txs) == 0 && !b.hasSince
}

type tableRow struct {
	id           int64
	schema, name string
}

type defRow struct {
	id, table int64
	version   int
	def       string
}

// sealedBlock is a change_blocks row ready to insert with its keys.
type sealedBlock struct {
	first, last int64
	tables      string
	text        []byte // the JSON array, until Compress (then back in the free list)
	data        []byte // text compressed with S2, once compressed
	offsets     []byte
	keys        []tableKeys // per table, the JSON array of its keys (jsonKeys)
	keyRows     []keyRow    // the same as rows (not jsonKeys)
	runs        []keyRun    // runs of integer keys, instead of their key rows
	oldKeys     []oldKey
}

// keyRun is a change_key_runs row: changes first..first+n-1 of one table,
// in one block, whose keys are the integers key..key+n-1 in that order
// (rows inserted or updated in key order). It stands for their n
// change_keys rows: a bulk insert of ascending ids adds one run row per
// block instead of one key row per change.
type keyRun struct {
	first, table, key int64
	n                 int
}

// minRun is the fewest changes a run is stored for; shorter ones go to
// change_keys (a run is one INSERT of its own, a key one json_each value).
const minRun = 8

// maxRunKey bounds the keys runs hold, so that key-maxRunChanges and
// key+n stay within int64 (SQLite's integers) on both sides.
const maxRunKey = 1 << 62

// intKey returns the integer of a key text that is one canonical integer
// ("[42]", "[-7]"; not "[042]", "[-0]" or "[1.5]"), within ±maxRunKey.
// Canonical texts and integers correspond one to one, so a run of
// integers stands for exactly the key texts of those integers.
func intKey(pk []byte) (int64, bool) {
	if len(pk) < 3 || len(pk) > 22 || pk[0] != '[' || pk[len(pk)-1] != ']' {
		return 0, false
	}
	d := pk[1 : len(pk)-1]
	neg := d[0] == '-'
	if neg {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 19 || (d[0] == '0' && (len(d) > 1 || neg)) {
		return 0, false
	}
	var v int64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > maxRunKey/10 {
			return 0, false
		}
		v = v*10 + int64(c-'0')
		if v > maxRunKey {
			return 0, false
		}
	}
	if neg {
		v = -v
	}
	return v, true
}

type keyRow struct {
	id, table int64
	pk        string
}

// block is a block being filled.
type block struct {
	first   int64  // id of its first change
	n       int    // changes in it
	text    []byte // "[" and the elements so far, comma separated
	offsets []byte // little-endian uint32 offset of each element in text
	tables  []int64
	keys    []blockKeys // per table, its keys so far (jsonKeys)
	keyRows []keyRow
	run     keyRun   // the run of integer keys the last changes extend (n 0: none)
	runs    []keyRun // finished runs
	oldKeys []oldKey
}

// tableKeys are the keys of one table's changes in a block: element i of
// the JSON array keys is the key of change first+i, null for changes of
// other tables or without a key. SQLite reads them with one json_each,
// one value per change, without parsing an element again.
type tableKeys struct {
	table int64
	keys  string
}

// blockKeys is a tableKeys being built: next is the offset its array has
// reached.
type blockKeys struct {
	table int64
	text  []byte
	next  int
}

type oldKey struct {
	id, table int64
	pk        string
}

// txRec is a transaction row. It is stored when the transaction ends or at
// a commit (then updated if it goes on), so most transactions cost one
// insert.
type txRec struct {
	id          int64
	gtid        any // string, or nil for none
	file        string
	pos         uint32
	ts          uint32
	first, last int64
	dirty       bool
}

type txKey struct {
	gtid string
	file string
	pos  uint32
}

// Add appends one encoded change.
func (a *Assembler) Add(r *Row) error {
	txID := a.txID(r.Tx)
	tableID, defID, err := a.table(r.Table)
	if err != nil {
		return err
	}
	id := a.nextID
	a.cur.last, a.cur.dirty = id, true
	b := &a.blk
	if b.n == 0 {
		b.first = id
		b.text = append(b.text[:0], '[')
	} else {
		b.text = append(b.text, ',')
	}
	b.offsets = binary.LittleEndian.AppendUint32(b.offsets, uint32(len(b.text)))
	start := len(b.text)
	if r.bin {
		t := append(b.text, elemBinary)
		t = binary.AppendUvarint(t, uint64(txID))
		t = binary.AppendUvarint(t, r.EventNumber)
		t = binary.AppendUvarint(t, uint64(tableID))
		t = binary.AppendUvarint(t, uint64(defID))
		t = append(t, r.op, r.flags)
		if r.flags&flagPK != 0 {
			t = binary.AppendUvarint(t, uint64(len(r.pk)))
			t = append(t, r.pk...)
		}
		if r.flags&flagOldPK != 0 {
			t = binary.AppendUvarint(t, uint64(len(r.oldPK)))
			t = append(t, r.oldPK...)
		}
		b.text = append(t, r.body...)
	} else {
		b.text = a.appendJSON(b.text, r, txID, tableID, defID)
	}
	if r.hasKey {
		a.addKey(id, tableID, r)
	}
	if r.oldPK != nil {
		b.oldKeys = append(b.oldKeys, oldKey{id: id, table: tableID, pk: string(r.oldPK)})
	}
	if !slices.Contains(b.tables, tableID) {
		b.tables = append(b.tables, tableID)
	}
	a.added += int64(len(b.text) - start)
	b.n++
	a.nextID++
	if b.n >= blockMaxChanges || len(b.text) >= blockMaxBytes {
		a.seal()
	}
	return nil
}

// appendJSON appends a change as a JSON element (the layout of format
// version 2).
func (a *Assembler) appendJSON(t []byte, r *Row, txID, tableID, defID int64) []byte {
	t = append(t, `{"tx":`...)
	t = strconv.AppendInt(t, txID, 10)
	t = append(t, `,"n":`...)
	t = strconv.AppendUint(t, r.EventNumber, 10)
	t = append(t, `,"t":`...)
	t = strconv.AppendInt(t, tableID, 10)
	t = append(t, `,"d":`...)
	t = strconv.AppendInt(t, defID, 10)
	t = append(t, `,"type":"`...)
	t = append(t, r.typ...)
	t = append(t, '"')
	if r.pk != nil {
		t = append(t, `,"pk":`...)
		t = format.AppendJSONBytes(t, r.pk)
	}
	if r.oldPK != nil {
		t = append(t, `,"old_pk":`...)
		t = format.AppendJSONBytes(t, r.oldPK)
	}
	t = append(t, r.body...)
	return append(t, '}')
}

// addKey records the key of change id in the block: as part of a run of
// integer keys, or as a change_keys row.
func (a *Assembler) addKey(id, tableID int64, r *Row) {
	b := &a.blk
	k, ok := r.intKey, r.isInt
	if !ok {
		k, ok = intKey(r.pk)
	}
	if run := &b.run; ok && run.n > 0 && run.n < maxRunChanges && run.table == tableID && id == run.first+int64(run.n) && k == run.key+int64(run.n) {
		run.n++
		return
	}
	a.endRun()
	if ok {
		b.run = keyRun{first: id, table: tableID, key: k, n: 1}
		return
	}
	a.addKeyRow(id, tableID, r.pk)
}

// endRun ends the block's run of integer keys: stored as a run when long
// enough, else as key rows.
func (a *Assembler) endRun() {
	b := &a.blk
	r := b.run
	b.run.n = 0
	if r.n >= minRun {
		b.runs = append(b.runs, r)
		return
	}
	var buf [24]byte
	for i := 0; i < r.n; i++ {
		t := append(buf[:0], '[')
		t = strconv.AppendInt(t, r.key+int64(i), 10)
		a.addKeyRow(r.first+int64(i), r.table, append(t, ']'))
	}
}

// addKeyRow adds the change_keys row of change id: to its table's JSON
// array of keys (SQLite), or as a row.
func (a *Assembler) addKeyRow(id, tableID int64, pk []byte) {
	b := &a.blk
	if !a.jsonKeys {
		b.keyRows = append(b.keyRows, keyRow{id: id, table: tableID, pk: string(pk)})
		return
	}
	off := int(id - b.first)
	var k *blockKeys
	for i := range b.keys {
		if b.keys[i].table == tableID {
			k = &b.keys[i]
			break
		}
	}
	if k == nil {
		if len(b.keys) < cap(b.keys) {
			b.keys = b.keys[:len(b.keys)+1] // reuse the buffer of an earlier block
		} else {
			b.keys = append(b.keys, blockKeys{})
		}
		k = &b.keys[len(b.keys)-1]
		k.table, k.text, k.next = tableID, append(k.text[:0], '['), 0
	}
	for ; k.next < off; k.next++ {
		if k.next > 0 {
			k.text = append(k.text, ',')
		}
		k.text = append(k.text, "null"...)
	}
	if k.next > 0 {
		k.text = append(k.text, ',')
	}
	k.text = format.AppendJSONBytes(k.text, pk)
	k.next++
}

// seal compresses the block being filled into the Batch.
func (a *Assembler) seal() {
	b := &a.blk
	if b.n == 0 {
		return
	}
	a.endRun()
	b.text = append(b.text, ']')
	tables := []byte{'['}
	for i, id := range b.tables {
		if i > 0 {
			tables = append(tables, ',')
		}
		tables = strconv.AppendInt(tables, id, 10)
	}
	sb := sealedBlock{first: b.first, last: b.first + int64(b.n) - 1, tables: string(append(tables, ']')),
		text: b.text, offsets: slices.Clone(b.offsets), oldKeys: slices.Clone(b.oldKeys), keyRows: slices.Clone(b.keyRows), runs: slices.Clone(b.runs)}
	select {
	case b.text = <-a.free:
	default:
		b.text = make([]byte, 0, blockMaxBytes+4<<10)
	}
	for i := range b.keys {
		sb.keys = append(sb.keys, tableKeys{table: b.keys[i].table, keys: string(append(b.keys[i].text, ']'))})
	}
	a.out.blocks = append(a.out.blocks, sb)
	b.n = 0
	b.text, b.offsets, b.keys, b.tables, b.oldKeys, b.keyRows, b.runs = b.text[:0], b.offsets[:0], b.keys[:0], b.tables[:0], b.oldKeys[:0], b.keyRows[:0], b.runs[:0]
}

// Added returns how many bytes of block elements (before compression) the
// changes added so far make.
func (a *Assembler) Added() int64 { return a.added }

// Take hands over the work gathered since the last Take. With all set
// (before a commit) the open block is sealed and the current transaction's
// record included; else only finished blocks and transactions go.
func (a *Assembler) Take(all bool) Batch {
	if all {
		a.seal()
		a.storeTx()
	}
	out := a.out
	out.free, out.zfree = a.free, a.zfree
	a.out = Batch{}
	return out
}

// txID returns the id of the event's transaction, starting a new
// transaction record when it is new. A transaction cut by a restart
// arrives again with a new Tx value: the same GTID and position mean the
// same transaction.
func (a *Assembler) txID(t *change.Tx) int64 {
	if t == a.lastTx {
		return a.lastTxID
	}
	k := txKey{gtid: t.GTID, file: t.File, pos: t.Pos}
	if k == a.lastTxKey && a.lastTxID != 0 {
		a.lastTx = t
		return a.lastTxID
	}
	a.storeTx()
	if !a.sinceSet {
		// The index is complete from its first transaction on (reconstruct
		// relies on it); retention moves this forward.
		a.out.since, a.out.hasSince = int64(t.Timestamp), true
		a.sinceSet = true
	}
	rec := &txRec{id: a.nextTx, file: t.File, pos: t.Pos, ts: t.Timestamp, first: a.nextID, last: a.nextID}
	if t.GTID != "" {
		rec.gtid = t.GTID
	}
	a.nextTx++
	a.cur = rec
	a.lastTx, a.lastTxID, a.lastTxKey = t, rec.id, k
	return rec.id
}

// storeTx queues the current transaction's record if it changed.
func (a *Assembler) storeTx() {
	if r := a.cur; r != nil && r.dirty {
		a.out.txs = append(a.out.txs, *r)
		r.dirty = false
	}
}

// table returns the ids of a table and of this version of its definition,
// giving new ones (queued for insert) to tables and definitions not seen.
func (a *Assembler) table(t *change.Table) (tableID, defID int64, err error) {
	if t == a.lastT && t != nil {
		return a.lastIDs.table, a.lastIDs.def, nil
	}
	if v, ok := a.versions[t]; ok {
		a.lastT, a.lastIDs = t, v
		return v.table, v.def, nil
	}
	name := t.Schema + "\x00" + t.Name
	tableID, ok := a.tables[name]
	if !ok {
		a.maxTable++
		tableID = a.maxTable
		a.tables[name] = tableID
		a.out.tables = append(a.out.tables, tableRow{id: tableID, schema: t.Schema, name: t.Name})
	}
	def, err := definitionJSON(t)
	if err != nil {
		return 0, 0, err
	}
	k := defKey{table: tableID, version: t.Version, def: def}
	defID, ok = a.defs[k]
	if !ok {
		a.maxDef++
		defID = a.maxDef
		a.defs[k] = defID
		a.out.defs = append(a.out.defs, defRow{id: defID, table: tableID, version: t.Version, def: def})
	}
	a.versions[t] = ids{table: tableID, def: defID}
	a.lastT, a.lastIDs = t, a.versions[t]
	return tableID, defID, nil
}
