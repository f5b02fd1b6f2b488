package verify

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"sealkeep/internal/pdf"
)

// maxChanges bounds the change descriptions kept per update.
const maxChanges = 20

// severity orders update classes; the modification of a signature is the
// most severe class after it.
func severity(class string) int {
	switch class {
	case ClassMetadata:
		return 0
	case ClassDSS:
		return 1
	case ClassSignature:
		return 2
	case FormFilling:
		return 3
	case Annotations:
		return 4
	}
	return 5
}

// docMDPAllows reports whether DocMDP permission level p allows a class.
func docMDPAllows(p int, class string) bool {
	switch {
	case class == ClassDSS:
		return true
	case p == 1:
		return false
	case p == 2:
		return severity(class) <= severity(FormFilling)
	}
	return severity(class) <= severity(Annotations)
}

// update is the analysis of one incremental update.
type update struct {
	Update
	filled []string // fully qualified names of fields whose value changed
}

// checkUpdates classifies the updates after the signed revision and
// enforces FieldMDP.
func (v *verifier) checkUpdates(sf *sigField, s *Signature, rev *pdf.Revision) error {
	revs := v.r.Revisions()
	worst := ClassMetadata
	var filled []string
	for j := rev.Index + 1; j < len(revs); j++ {
		u, err := v.diff(j)
		if err != nil {
			return err
		}
		s.Updates = append(s.Updates, u.Update)
		filled = append(filled, u.filled...)
		if severity(u.Class) > severity(worst) {
			worst = u.Class
		}
	}
	// Bytes after the final %%EOF that belong to no revision.
	if end := revs[len(revs)-1].End; end < v.size && !allSpace(v, end) {
		s.Updates = append(s.Updates, Update{Revision: len(revs), Class: Other,
			Changes: []string{fmt.Sprintf("%d bytes after the final %%%%EOF belong to no revision", v.size-end)}})
		worst = Other
	}
	if severity(worst) > severity(ClassSignature) {
		s.Modification = worst
		s.reason("the document was changed after this signature (%s)", worst)
	}
	s.DocMDP = docMDPLevel(v.r.Latest(), sf.dict)
	// FieldMDP: /Lock on the field, or a FieldMDP reference.
	locked := lockedFields(v.r.Latest(), sf)
	for _, name := range filled {
		if locked(name) {
			s.Modification = Other
			s.reason("field %q was changed although this signature locks it (FieldMDP)", name)
		}
	}
	return nil
}

// applyDocMDP checks the updates after a certification signature against
// its permission level.
func (v *verifier) applyDocMDP(out []Signature) {
	certRev, level := -1, 0
	for _, s := range out {
		if s.DocMDP > 0 && s.Revision >= 0 {
			certRev, level = s.Revision, s.DocMDP
			break
		}
	}
	if level == 0 {
		return
	}
	for i := range out {
		s := &out[i]
		for _, u := range s.Updates {
			if u.Revision > certRev && !docMDPAllows(level, u.Class) {
				if s.DocMDPOK {
					s.reason("the certification signature (DocMDP P=%d) does not allow the change in revision %d (%s)", level, u.Revision, u.Class)
				}
				s.DocMDPOK = false
			}
		}
	}
}

// docMDPLevel returns the DocMDP P of a certification signature
// dictionary, or 0.
func docMDPLevel(rv *pdf.Revision, d pdf.Dict) int {
	refs, err := rv.Array(d["Reference"])
	if err != nil {
		return 0
	}
	for _, x := range refs {
		sr, err := rv.Dict(x)
		if err != nil || sr.Name("TransformMethod") != "DocMDP" {
			continue
		}
		p := int64(2)
		if params, err := rv.Dict(sr["TransformParams"]); err == nil {
			if n, err := rv.Int(params["P"]); err == nil && n >= 1 && n <= 3 {
				p = n
			}
		}
		return int(p)
	}
	return 0
}

// lockedFields returns a predicate for the field names a signature locks.
func lockedFields(rv *pdf.Revision, sf *sigField) func(string) bool {
	var params []pdf.Dict
	if lo, ok := sf.field.Dict["Lock"]; ok {
		if d, err := rv.Dict(lo); err == nil {
			params = append(params, d)
		}
	}
	if refs, err := rv.Array(sf.dict["Reference"]); err == nil {
		for _, x := range refs {
			sr, err := rv.Dict(x)
			if err != nil || sr.Name("TransformMethod") != "FieldMDP" {
				continue
			}
			if d, err := rv.Dict(sr["TransformParams"]); err == nil {
				params = append(params, d)
			}
		}
	}
	return func(name string) bool {
		for _, p := range params {
			names := map[string]bool{}
			if arr, err := rv.Array(p["Fields"]); err == nil {
				for _, x := range arr {
					names[text(x)] = true
				}
			}
			switch p.Name("Action") {
			case "All":
				return true
			case "Include":
				if names[name] {
					return true
				}
			case "Exclude":
				if !names[name] {
					return true
				}
			}
		}
		return false
	}
}

// fieldInfo is one terminal form field of a revision.
type fieldInfo struct {
	name string
	sig  bool
	v    pdf.Object // the /V; nil when absent or null
	objs []int      // the field dictionary and its widgets
}

// signed reports whether f is a signature field with a value.
func (f *fieldInfo) signed() bool { return f != nil && f.sig && f.v != nil }

// revCtx is what the classification needs to know about one revision.
type revCtx struct {
	rv       *pdf.Revision
	catRef   pdf.Ref
	afRef    pdf.Ref // zero when the AcroForm is direct or absent
	fieldArr pdf.Ref // zero when /Fields is direct or absent
	info     pdf.Ref
	metadata pdf.Ref
	fields   map[int]*fieldInfo // field dictionaries and widgets
	claims   map[int]*fieldInfo // signature dictionary: the first signature field whose /V names it
	dss      map[int]bool
	dr       map[int]int // the indirect /DR (0) and its indirect sub-dictionaries (1)
}

func newRevCtx(rv *pdf.Revision) (*revCtx, error) {
	c := &revCtx{rv: rv, fields: map[int]*fieldInfo{}, claims: map[int]*fieldInfo{}, dss: map[int]bool{}, dr: map[int]int{}}
	catRef, cat, err := rv.Catalog()
	if err != nil {
		return nil, err
	}
	c.catRef = catRef
	c.info, _ = rv.Trailer["Info"].(pdf.Ref)
	c.metadata, _ = cat["Metadata"].(pdf.Ref)
	if r, ok := cat["AcroForm"].(pdf.Ref); ok {
		c.afRef = r
	}
	if af, err := rv.AcroForm(); err == nil && af != nil {
		c.fieldArr, _ = af["Fields"].(pdf.Ref)
		if r, ok := af["DR"].(pdf.Ref); ok {
			c.dr[r.Num] = 0
		}
		if dr, err := rv.Dict(af["DR"]); err == nil {
			for _, x := range dr {
				if r, ok := x.(pdf.Ref); ok {
					c.dr[r.Num] = 1
				}
			}
		}
	}
	fields, err := rv.Fields()
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		fi := &fieldInfo{name: f.Name, sig: f.Type == "Sig"}
		if x, ok := f.Dict["V"]; ok {
			if _, null := x.(pdf.Null); !null {
				fi.v = x
			}
		}
		if f.Ref != (pdf.Ref{}) {
			fi.objs = append(fi.objs, f.Ref.Num)
		}
		if kids, err := rv.Array(f.Dict["Kids"]); err == nil {
			for _, k := range kids {
				if kr, ok := k.(pdf.Ref); ok {
					fi.objs = append(fi.objs, kr.Num)
				}
			}
		}
		for _, n := range fi.objs {
			c.fields[n] = fi
		}
		if vr, ok := fi.v.(pdf.Ref); ok && fi.sig && c.claims[vr.Num] == nil {
			c.claims[vr.Num] = fi
		}
	}
	if d, ok := cat["DSS"]; ok {
		c.walk(d, c.dss, 1<<16)
	}
	return c, nil
}

// walk marks the objects reachable from o, up to limit objects.
func (c *revCtx) walk(o pdf.Object, seen map[int]bool, limit int) {
	stack := []pdf.Object{o}
	for len(stack) > 0 && len(seen) < limit {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch x := x.(type) {
		case pdf.Ref:
			if seen[x.Num] {
				continue
			}
			seen[x.Num] = true
			if y, err := c.rv.Get(x); err == nil {
				stack = append(stack, y)
			}
		case pdf.Dict:
			for _, y := range x {
				stack = append(stack, y)
			}
		case pdf.Array:
			stack = append(stack, x...)
		case *pdf.Stream:
			stack = append(stack, x.Dict)
		}
	}
}

// change is one object that differs between two revisions.
type change struct {
	num      int
	old, new pdf.Object // nil: absent or free
	class    string     // "" while a new object awaits an owner
	desc     string
	inPlace  bool // an existing stream rewritten: classified by who uses it
	// onlyFor, for an existing object changed in a role that changes
	// nothing shown (metadata, DSS, /DR), accepts the places that may
	// use it: used anywhere else, the change is other.
	onlyFor func(holder) bool
}

// diffState is the classification of one update in progress.
type diffState struct {
	v      *verifier
	pc, cc *revCtx
	byNum  map[int]*change
	fresh  map[int]bool        // new signature dictionaries whose /ByteRange ends at this revision's end
	signs  map[*fieldInfo]bool // the fields this update signs
	fills  map[*fieldInfo]bool // the fields this update fills
	annots map[int]bool        // the annotations this update adds or changes
	// curRefs are the references in this revision's trailer and changed
	// objects (see holders).
	curRefs map[int][]holder
}

// isNew reports whether object n is created by this update.
func (d *diffState) isNew(n int) bool {
	ch, ok := d.byNum[n]
	return ok && ch.old == nil
}

// diff compares revision j with revision j-1 and classifies the update.
func (v *verifier) diff(j int) (*update, error) {
	if u, ok := v.diffs[j]; ok {
		return u, nil
	}
	u, err := v.diffUncached(j)
	if err == nil {
		if v.diffs == nil {
			v.diffs = map[int]*update{}
		}
		v.diffs[j] = u
	}
	return u, err
}

func (v *verifier) diffUncached(j int) (*update, error) {
	revs := v.r.Revisions()
	prev, cur := revs[j-1], revs[j]
	u := &update{Update: Update{Revision: j, Class: ClassMetadata, Changes: []string{}}}
	fail := func(format string, args ...any) (*update, error) {
		u.Class = Other
		u.Changes = append(u.Changes, fmt.Sprintf(format, args...))
		return u, nil
	}
	pc, err := newRevCtx(prev)
	if err != nil {
		return fail("the previous revision's structure cannot be read: %v", err)
	}
	cc, err := newRevCtx(cur)
	if err != nil {
		return fail("the structure of this revision cannot be read: %v", err)
	}
	if cc.catRef != pc.catRef {
		return fail("the update replaces the document catalog (%v, was %v)", cc.catRef, pc.catRef)
	}
	nums := map[int]bool{}
	for _, s := range cur.Sections {
		for n := range s.Entries {
			if n > 0 {
				nums[n] = true
			}
		}
	}
	sorted := make([]int, 0, len(nums))
	for n := range nums {
		sorted = append(sorted, n)
	}
	sort.Ints(sorted)

	d := &diffState{v: v, pc: pc, cc: cc, byNum: map[int]*change{}, fresh: map[int]bool{},
		signs: map[*fieldInfo]bool{}, fills: map[*fieldInfo]bool{}, annots: map[int]bool{}}
	var changes []*change
	for _, n := range sorted {
		if err := v.ctx.Err(); err != nil {
			return nil, err
		}
		oe, _, oldOK := prev.Entry(n)
		ne, _, _ := cur.Entry(n)
		oldLive := oldOK && oe.Type != pdf.EntryFree
		if ne.Type == pdf.EntryFree {
			if oldLive {
				ch := &change{num: n, class: Other, desc: fmt.Sprintf("object %d deleted", n)}
				changes = append(changes, ch)
			}
			continue
		}
		if oldLive && oe == ne && ne.Type == pdf.EntryInUse {
			continue // the same bytes
		}
		newObj, err := cur.Get(pdf.Ref{Num: n, Gen: entryGen(ne)})
		if err != nil {
			changes = append(changes, &change{num: n, class: Other, desc: fmt.Sprintf("object %d cannot be read: %v", n, err)})
			continue
		}
		var oldObj pdf.Object
		if oldLive {
			if oldObj, err = prev.Get(pdf.Ref{Num: n, Gen: entryGen(oe)}); err != nil {
				oldObj = nil
			}
		}
		if oldObj != nil {
			eq, err := v.equal(oldObj, newObj, 0)
			if err != nil {
				return nil, err
			}
			if eq {
				continue
			}
		}
		if st, ok := newObj.(*pdf.Stream); ok {
			if t := st.Dict.Name("Type"); t == "XRef" || t == "ObjStm" {
				if t == "ObjStm" && oldObj != nil {
					// Older sections still place objects in this
					// stream: rewriting it rewrites them unseen.
					changes = append(changes, &change{num: n, class: Other,
						desc: fmt.Sprintf("object %d: an existing object stream is rewritten, which changes the objects that earlier revisions store in it", n)})
				}
				continue
			}
		}
		ch := &change{num: n, old: oldObj, new: newObj}
		changes = append(changes, ch)
		d.byNum[n] = ch
		if oldObj == nil && isSigDict(newObj) && endsAt(newObj, cur) {
			d.fresh[n] = true
		}
	}
	// The fields this update signs: a signature field, unsigned before,
	// whose /V is a new signature dictionary of this revision that no
	// other field claims.
	for _, f := range cc.fields {
		vr, ok := f.v.(pdf.Ref)
		if !ok || !f.sig || !d.fresh[vr.Num] || cc.claims[vr.Num] != f || len(f.objs) == 0 || pc.fields[f.objs[0]].signed() {
			continue
		}
		d.signs[f] = true
	}
	for _, ch := range changes {
		if ch.class == "" {
			d.classify(ch)
		}
	}
	// Existing streams rewritten in place, once the fields that this
	// update fills and signs are known.
	allowed := map[int]string{}
	for f := range d.fills {
		for _, n := range f.objs {
			allowed[n] = FormFilling
		}
	}
	for f := range d.signs {
		for _, n := range f.objs {
			allowed[n] = ClassSignature
		}
	}
	for n := range d.annots {
		allowed[n] = Annotations
	}
	for _, ch := range changes {
		var err error
		switch {
		case ch.old == nil && ch.new != nil:
			err = d.checkDangling(ch)
		case ch.inPlace:
			err = d.classifyInPlace(ch, allowed)
		case ch.onlyFor != nil && ch.class != Other:
			err = d.checkExclusive(ch)
		}
		if errors.Is(err, errUses) {
			switch {
			case ch.desc != "":
			case ch.old == nil:
				ch.desc = fmt.Sprintf("new object %d (%s)", ch.num, kind(ch.new))
			default:
				ch.desc = fmt.Sprintf("object %d: %s changed", ch.num, kind(ch.old))
			}
			ch.class, ch.desc, err = Other, fmt.Sprintf("%s; whether anything else uses it is not known: %v", ch.desc, err), nil
		}
		if err != nil {
			return nil, err
		}
	}
	// New objects belong to the change that refers to them.
	for _, ch := range changes {
		if ch.class != "" && ch.class != Other && ch.new != nil {
			for _, root := range d.ownRoots(ch) {
				v.own(root, ch.class, d.byNum, 0)
			}
		}
	}
	// Damage that reading this revision needed makes what it shows
	// ambiguous: viewers repair differently.
	repairs, err := cur.Repairs()
	if err != nil {
		return nil, err
	}
	for _, r := range repairs {
		u.Class = Other
		u.Changes = append(u.Changes, "reading this revision needed a repair: "+r)
	}
	for _, ch := range changes {
		if ch.class == "" {
			ch.class = Other
			ch.desc = fmt.Sprintf("new object %d (%s) is not referred to by any allowed change", ch.num, kind(ch.new))
		}
		if severity(ch.class) > severity(u.Class) {
			u.Class = ch.class
		}
		if ch.class == FormFilling {
			if f := cc.fields[ch.num]; f != nil {
				u.filled = append(u.filled, f.name)
			}
		}
		if ch.desc != "" {
			if len(u.Changes) < maxChanges {
				u.Changes = append(u.Changes, ch.desc)
			} else if len(u.Changes) == maxChanges {
				u.Changes = append(u.Changes, "...")
			}
		}
	}
	return u, nil
}

// isSigDict reports whether o is a signature or document timestamp
// dictionary (a missing /Type is allowed).
func isSigDict(o pdf.Object) bool {
	d, ok := o.(pdf.Dict)
	if !ok {
		return false
	}
	t := d.Name("Type")
	return t == "Sig" || t == "DocTimeStamp" || t == "" && d["ByteRange"] != nil
}

// endsAt reports whether a signature dictionary's /ByteRange ends exactly
// at the end of revision rv: only such a signature signs rv.
func endsAt(o pdf.Object, rv *pdf.Revision) bool {
	d, _ := o.(pdf.Dict)
	sf := sigField{dict: d}
	br, ok := sf.ranges()
	end := br[2] + br[3]
	return ok && (end == rv.End || end == rv.EOF)
}

// ownKeys are the keys of a form field or widget through which it may
// bring new objects: its value, its appearance and what signing uses.
var ownKeys = map[pdf.Name]bool{"V": true, "AP": true, "MK": true, "Lock": true, "SV": true}

// ownRoots returns the parts of a change through which it may bring new
// objects: the values of the keys it changed (for a form field, of the
// keys in ownKeys only), or the elements it added to an array.
func (d *diffState) ownRoots(ch *change) []pdf.Object {
	newD, isD := asDict(ch.new)
	if !isD {
		if na, ok := ch.new.(pdf.Array); ok {
			oa, _ := ch.old.(pdf.Array)
			var out []pdf.Object
			added, _ := refDiff(oa, na)
			for _, r := range added {
				out = append(out, r)
			}
			return out
		}
		return []pdf.Object{ch.new}
	}
	oldD, _ := asDict(ch.old)
	if oldD == nil {
		oldD = pdf.Dict{}
	}
	var out []pdf.Object
	for _, k := range changedKeys(d.v, oldD, newD) {
		if d.cc.fields[ch.num] != nil && !ownKeys[k] {
			continue
		}
		if x, ok := newD[k]; ok {
			out = append(out, x)
		}
	}
	return out
}

// own assigns class to the new, unclassified objects reachable from o.
func (v *verifier) own(o pdf.Object, class string, byNum map[int]*change, depth int) {
	if depth > 64 {
		return
	}
	switch x := o.(type) {
	case pdf.Ref:
		ch, ok := byNum[x.Num]
		if !ok || ch.old != nil || ch.class != "" {
			return
		}
		ch.class = class
		v.own(ch.new, class, byNum, depth+1)
	case pdf.Dict:
		for _, y := range x {
			v.own(y, class, byNum, depth+1)
		}
	case pdf.Array:
		for _, y := range x {
			v.own(y, class, byNum, depth+1)
		}
	case *pdf.Stream:
		v.own(x.Dict, class, byNum, depth+1)
	}
}

func entryGen(e pdf.XrefEntry) int {
	if e.Type == pdf.EntryCompressed {
		return 0
	}
	return e.Gen
}

// kind names an object for change descriptions.
func kind(o pdf.Object) string {
	var d pdf.Dict
	switch x := o.(type) {
	case pdf.Dict:
		d = x
	case *pdf.Stream:
		d = x.Dict
	case pdf.Array:
		return "array"
	case nil:
		return "absent"
	default:
		return fmt.Sprintf("%T", o)[len("pdf."):]
	}
	if t := d.Name("Type"); t != "" {
		return "/" + string(t)
	}
	if t := d.Name("Subtype"); t != "" {
		return "/" + string(t)
	}
	if _, ok := o.(*pdf.Stream); ok {
		return "stream"
	}
	return "dictionary"
}

// asDict returns the dictionary of a dictionary or stream.
func asDict(o pdf.Object) (pdf.Dict, bool) {
	switch x := o.(type) {
	case pdf.Dict:
		return x, true
	case *pdf.Stream:
		return x.Dict, true
	}
	return nil, false
}

// annotSubtypes are the annotation subtypes of ISO 32000-2 §12.5.6 other
// than Widget.
var annotSubtypes = map[pdf.Name]bool{
	"Text": true, "Link": true, "FreeText": true, "Line": true, "Square": true, "Circle": true,
	"Polygon": true, "PolyLine": true, "Highlight": true, "Underline": true, "Squiggly": true,
	"StrikeOut": true, "Caret": true, "Stamp": true, "Ink": true, "Popup": true,
	"FileAttachment": true, "Sound": true, "Movie": true, "Screen": true, "PrinterMark": true,
	"TrapNet": true, "Watermark": true, "3D": true, "Redact": true, "Projection": true, "RichMedia": true,
}

// isAnnot reports whether o is an annotation dictionary other than a
// widget. Streams (images, forms) are never annotations, whatever their
// /Subtype.
func isAnnot(o pdf.Object) bool {
	d, ok := o.(pdf.Dict)
	if !ok {
		return false
	}
	t := d.Name("Type")
	return annotSubtypes[d.Name("Subtype")] && (t == "Annot" || t == "")
}

// classify sets ch.class (or leaves it "" for a new object that must be
// owned by another change, or marks an existing stream rewritten in place)
// and ch.desc.
func (d *diffState) classify(ch *change) {
	n := ch.num
	pc, cc := d.pc, d.cc
	set := func(class, format string, args ...any) {
		ch.class = class
		ch.desc = fmt.Sprintf("object %d: ", n) + fmt.Sprintf(format, args...)
	}
	oldD, oldIsD := asDict(ch.old)
	newD, newIsD := asDict(ch.new)
	_, oldIsS := ch.old.(*pdf.Stream)
	_, newIsS := ch.new.(*pdf.Stream)
	switch {
	case n == cc.catRef.Num:
		d.classifyKeys(ch, oldD, newD, "catalog", map[pdf.Name]string{
			"AcroForm": "acroform", "DSS": ClassDSS, "Metadata": ClassMetadata,
			"Version": ClassMetadata, "Extensions": ClassMetadata,
		})
	case n == cc.afRef.Num && cc.afRef.Num != 0:
		d.classifyKeys(ch, oldD, newD, "AcroForm", acroFormKeys)
	case n == cc.fieldArr.Num && cc.fieldArr.Num != 0:
		class, desc := d.fieldsDiff(ch.old, ch.new)
		set(class, "%s", desc)
	case cc.claims[n] != nil || d.fresh[n] || pc.claims[n] != nil:
		d.classifySigDict(ch)
	case pc.fields[n].signed():
		set(Other, "signature field %q, signed before this update, changed (%s)", pc.fields[n].name, joinNames(changedKeys(d.v, orEmpty(oldD), orEmpty(newD))))
	case cc.fields[n] != nil:
		d.classifyField(ch, oldD, newD, cc.fields[n])
	case cc.dss[n]:
		set(ClassDSS, "DSS validation data")
		ch.onlyFor = func(h holder) bool {
			return h.num == cc.catRef.Num && h.key == "DSS" || pc.dss[h.num] || cc.dss[h.num]
		}
	case n == cc.info.Num && cc.info.Num != 0:
		set(ClassMetadata, "document information dictionary")
		ch.onlyFor = func(h holder) bool { return h.num == trailer && h.key == "Info" }
	case n == cc.metadata.Num && cc.metadata.Num != 0:
		set(ClassMetadata, "XMP metadata")
		ch.onlyFor = func(h holder) bool { return h.num == cc.catRef.Num && h.key == "Metadata" }
	case ch.old != nil && hasKey(cc.dr, n):
		if d.additionsOnly(ch.old, ch.new, cc.dr[n]) {
			set(ClassMetadata, "form resources (/DR): entries added")
		} else {
			set(Other, "form resources (/DR): existing entries changed or removed")
		}
		ch.onlyFor = func(h holder) bool {
			return h.key == "DR" && (h.num == cc.afRef.Num || h.num == pc.afRef.Num) ||
				h.key == "AcroForm" && h.num == cc.catRef.Num || hasKey(cc.dr, h.num) || hasKey(pc.dr, h.num)
		}
	case isAnnot(ch.new) && (ch.old == nil || isAnnot(ch.old)):
		if ch.old == nil {
			set(Annotations, "new /%s annotation", newD.Name("Subtype"))
		} else {
			set(Annotations, "/%s annotation changed", newD.Name("Subtype"))
		}
		d.annots[n] = true
		ch.onlyFor = func(h holder) bool { return annotUses[h.key] }
	case ch.old != nil && oldIsD && newIsD && oldD.Name("Type") == "Page" && newD.Name("Type") == "Page":
		keys := changedKeys(d.v, oldD, newD)
		if len(keys) == 1 && keys[0] == "Annots" {
			class, desc := d.annotsDiff(oldD["Annots"], newD["Annots"])
			set(class, "page: %s", desc)
			return
		}
		set(Other, "page dictionary changed (%s)", joinNames(keys))
	case ch.old != nil && isArray(ch.old) && isArray(ch.new) && d.v.allAnnots(ch.old, pc) && d.v.allAnnots(ch.new, cc):
		class, desc := d.annotsDiff(ch.old, ch.new)
		set(class, "annotation array: %s", desc)
	case ch.old == nil:
		// A new object: owned by the change that refers to it.
	case oldIsS && newIsS:
		ch.inPlace = true
	default:
		set(Other, "%s changed", kind(ch.old))
	}
}

// annotUses are the keys under which an annotation is referred to: a
// page's /Annots (or an /Annots array, ""), another annotation's /Popup,
// /IRT or /Parent, a structure element's /K (an object reference
// dictionary in it) or an indirect object reference's /Obj.
var annotUses = map[pdf.Name]bool{"Annots": true, "": true, "Popup": true, "IRT": true, "Parent": true, "K": true, "Obj": true}

func hasKey(m map[int]int, n int) bool { _, ok := m[n]; return ok }

func orEmpty(d pdf.Dict) pdf.Dict {
	if d == nil {
		return pdf.Dict{}
	}
	return d
}

// acroFormKeys are the AcroForm keys an update may change, and how. /DA
// is not among them: it is how the fields without their own /DA are drawn
// whenever a viewer generates their appearance (they have none, or
// /NeedAppearances is true), so changing it redraws them.
var acroFormKeys = map[pdf.Name]string{
	"Fields": "fields", "SigFlags": ClassSignature, "DR": "dr",
	"NeedAppearances": FormFilling,
}

// classifyKeys classifies a change of the catalog or the AcroForm by the
// keys that changed.
func (d *diffState) classifyKeys(ch *change, oldD, newD pdf.Dict, what string, allowed map[pdf.Name]string) {
	if newD == nil {
		ch.class, ch.desc = Other, fmt.Sprintf("object %d: the %s is not a dictionary", ch.num, what)
		return
	}
	oldD = orEmpty(oldD)
	class := ClassMetadata
	var descs []string
	for _, k := range changedKeys(d.v, oldD, newD) {
		c, ok := allowed[k]
		switch {
		case !ok:
			c = Other
		case c == "acroform":
			if nd, direct := newD[k].(pdf.Dict); direct {
				od, _ := oldD[k].(pdf.Dict)
				sub := &change{num: ch.num, old: od, new: nd}
				d.classifyKeys(sub, od, nd, "AcroForm", acroFormKeys)
				c = sub.class
				descs = append(descs, strings.TrimPrefix(sub.desc, fmt.Sprintf("object %d: ", ch.num)))
			} else {
				c = ClassMetadata // an indirect AcroForm is classified on its own
			}
		case c == "fields":
			var desc string
			c, desc = d.fieldsDiff(oldD[k], newD[k])
			descs = append(descs, desc)
		case c == "dr":
			c = ClassMetadata
			if _, had := oldD[k]; had && !d.additionsOnly(oldD[k], newD[k], 0) {
				c = Other
				descs = append(descs, "existing /DR entries changed or removed")
			}
		}
		if severity(c) > severity(class) {
			class = c
		}
		descs = append(descs, fmt.Sprintf("/%s (%s)", k, c))
	}
	ch.class = class
	ch.desc = fmt.Sprintf("object %d: %s changed: %s", ch.num, what, joinStrings(descs))
}

// additionsOnly reports whether the resource dictionary new (as of this
// update) keeps every entry of old (as of the previous revision): at
// depth 0 a /DR whose sub-dictionaries (/Font, ...) are compared at depth
// 1, where every old entry must be unchanged.
func (d *diffState) additionsOnly(old, new pdf.Object, depth int) bool {
	od, err1 := d.pc.rv.Dict(old)
	nd, err2 := d.cc.rv.Dict(new)
	if err1 != nil || err2 != nil {
		return d.v.mustEqual(old, new)
	}
	for k, ov := range od {
		nv, ok := nd[k]
		switch {
		case !ok:
			return false
		case depth == 0:
			if !d.additionsOnly(ov, nv, 1) {
				return false
			}
		case !d.v.mustEqual(ov, nv):
			return false
		}
	}
	return true
}

// classifySigDict classifies a change of an object that a signature
// field's /V names: only a new signature dictionary that signs this very
// revision, the value of a field that this update signs, is a signature.
func (d *diffState) classifySigDict(ch *change) {
	n := ch.num
	f := d.cc.claims[n]
	name := ""
	if f != nil {
		name = f.name
	}
	switch {
	case ch.old != nil:
		ch.class, ch.desc = Other, fmt.Sprintf("object %d: an existing signature dictionary was changed", n)
	case !d.fresh[n]:
		ch.class, ch.desc = Other, fmt.Sprintf("object %d: the /V of signature field %q is not a signature dictionary whose /ByteRange ends at the end of this revision", n, name)
	case f == nil || !d.signs[f]:
		ch.class, ch.desc = Other, fmt.Sprintf("object %d: new signature dictionary that no field this update signs holds", n)
	default:
		ch.class, ch.desc = ClassSignature, fmt.Sprintf("object %d: new signature dictionary", n)
	}
}

// sigFieldSignKeys are the keys of an unsigned signature field that
// signing it may change.
var sigFieldSignKeys = map[pdf.Name]bool{"V": true, "AP": true, "AS": true, "F": true, "MK": true, "P": true, "Lock": true, "SV": true, "DA": true}

// classifyField classifies a change of a form field or widget that was not
// a signed signature field before this update.
func (d *diffState) classifyField(ch *change, oldD, newD pdf.Dict, f *fieldInfo) {
	n := ch.num
	set := func(class, format string, args ...any) {
		ch.class = class
		ch.desc = fmt.Sprintf("object %d: ", n) + fmt.Sprintf(format, args...)
	}
	if newD == nil {
		set(Other, "field %q is not a dictionary", f.name)
		return
	}
	keys := changedKeys(d.v, orEmpty(oldD), newD)
	if f.sig && slices.ContainsFunc(keys, func(k pdf.Name) bool { return k == "A" || k == "AA" }) {
		// Actions run; they are no part of a signature.
		set(Other, "signature field %q gains actions (%s)", f.name, joinNames(keys))
		return
	}
	switch {
	case f.sig && d.signs[f]:
		if ch.old == nil {
			set(ClassSignature, "new signature field %q", f.name)
			return
		}
		for _, k := range keys {
			if !sigFieldSignKeys[k] {
				set(Other, "signature field %q changed beyond signing (%s)", f.name, joinNames(keys))
				return
			}
		}
		set(ClassSignature, "signature field %q signed", f.name)
	case f.sig && f.v != nil:
		// A /V that this update did not sign: another revision's
		// signature dictionary (reuse), a copy, or anything else.
		what := "is not a signature dictionary made for this revision"
		if vr, ok := f.v.(pdf.Ref); ok {
			if of := d.pc.claims[vr.Num]; of != nil {
				what = fmt.Sprintf("is the signature dictionary %d of field %q from an earlier revision", vr.Num, of.name)
			} else if d.cc.claims[vr.Num] != f {
				what = fmt.Sprintf("is the signature dictionary %d of field %q", vr.Num, d.cc.claims[vr.Num].name)
			}
		}
		set(Other, "signature field %q: its /V %s, so it is not a new signature", f.name, what)
	case f.sig:
		// An invisible, unsigned signature field shows and signs nothing
		// (a field placed for the next signer); pyHanko counts it with
		// validation data.
		class, what := ClassMetadata, "invisible"
		if visibleUnsigned(newD) {
			class, what = Annotations, "visible"
		}
		if ch.old == nil {
			set(class, "new unsigned signature field %q (%s)", f.name, what)
		} else {
			set(class, "unsigned signature field %q changed (%s; %s)", f.name, what, joinNames(keys))
		}
	case ch.old == nil:
		set(Other, "new form field %q", f.name)
	default:
		for _, k := range keys {
			if k != "V" && k != "AS" && k != "AP" {
				set(Other, "field %q changed beyond filling (%s)", f.name, joinNames(keys))
				return
			}
		}
		d.fills[f] = true
		set(FormFilling, "field %q (%s)", f.name, FormFilling)
	}
}

// classifyInPlace classifies an existing stream rewritten in place by the
// places that use it, in the previous revision and in this one: it may be
// only an appearance stream (/AP) of the widgets that this update fills or
// signs, or of the annotations it changes. A stream also used by a page,
// another widget or annotation, another XObject or the trailer changes
// what those show too.
func (d *diffState) classifyInPlace(ch *change, allowed map[int]string) error {
	hs, err := d.holders(ch.num)
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		ch.class, ch.desc = Other, fmt.Sprintf("object %d: %s changed", ch.num, kind(ch.old))
		return nil
	}
	class := ClassMetadata
	for _, h := range hs {
		c, err := d.holderClass(h, allowed, 0)
		if err != nil {
			return err
		}
		if c == "" {
			ch.class, ch.desc = Other, fmt.Sprintf("object %d: %s rewritten in place, used by %s", ch.num, kind(ch.old), d.describe(h))
			return nil
		}
		if severity(c) > severity(class) {
			class = c
		}
	}
	ch.class, ch.desc = class, fmt.Sprintf("object %d: appearance stream rewritten in place (%s)", ch.num, class)
	return nil
}

// checkExclusive makes a change other when an existing object changed in
// a role that shows nothing (document information, XMP metadata, DSS,
// /DR) or only itself (an annotation) is also used elsewhere, in the
// previous revision or in this one: a dictionary that is both the document
// information and a page's resources, say, would change the page under the
// name of metadata.
func (d *diffState) checkExclusive(ch *change) error {
	if ch.old == nil {
		return nil // a new object is owned by the change that refers to it
	}
	hs, err := d.holders(ch.num)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if !ch.onlyFor(h) {
			ch.class = Other
			ch.desc += fmt.Sprintf(", but the object is also used by %s", d.describe(h))
			return nil
		}
	}
	return nil
}

// checkDangling makes a new object other when the previous revision
// already refers to its number and generation: a reference that named
// nothing when the document was signed (read as null) resolves now, so the
// new object changes whatever holds that reference, a page's content, say,
// whichever allowed change it is brought in by. In a revision too large to
// look references up (see maxRefObjects) it fails closed with errUses:
// skipping the check would let a metadata update give a page the content
// a dangling reference names.
func (d *diffState) checkDangling(ch *change) error {
	idx, err := d.v.referrers(d.pc.rv)
	if err != nil {
		return err
	}
	gen := d.gen(ch.num)
	for _, h := range idx[ch.num] {
		if h.gen == gen {
			ch.class = Other
			ch.desc = fmt.Sprintf("object %d: new, but the previous revision already refers to it from %s: a reference that named nothing when signed now resolves", ch.num, d.describe(h))
			return nil
		}
	}
	return nil
}

// holders lists the places that refer to object n in the previous
// revision and in this one: the previous revision's referrers, and the
// references in this revision's trailer and in the objects this update
// changes (the only places where the two revisions differ).
func (d *diffState) holders(n int) ([]holder, error) {
	idx, err := d.v.referrers(d.pc.rv)
	if err != nil {
		return nil, err
	}
	if d.curRefs == nil {
		d.curRefs = map[int][]holder{}
		addRefs(d.curRefs, trailer, d.cc.rv.Trailer)
		for _, ch := range d.byNum {
			addRefs(d.curRefs, ch.num, ch.new) // xref streams are not changes
		}
	}
	var out []holder
	seen := map[holder]bool{}
	for _, h := range append(append([]holder{}, idx[n]...), d.curRefs[n]...) {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out, nil
}

// holderClass returns the class of a use of a rewritten stream: the class
// of the allowed widget or annotation whose /AP holds it, possibly through
// an indirect appearance dictionary; "" for any other use.
func (d *diffState) holderClass(h holder, allowed map[int]string, depth int) (string, error) {
	if h.num == trailer {
		return "", nil
	}
	if c, ok := allowed[h.num]; ok {
		if h.key == "AP" {
			return c, nil
		}
		return "", nil
	}
	if depth >= 2 {
		return "", nil
	}
	// An indirect /AP dictionary or appearance state dictionary: allowed
	// when every use of it is.
	o, err := d.cc.rv.Resolve(pdf.Ref{Num: h.num, Gen: d.gen(h.num)})
	if _, plain := o.(pdf.Dict); err != nil || !plain || isAnnot(o) || isWidget(o) || d.cc.fields[h.num] != nil {
		return "", nil
	}
	hs, err := d.holders(h.num)
	if err != nil || len(hs) == 0 {
		return "", err
	}
	class := ClassMetadata
	for _, hh := range hs {
		c, err := d.holderClass(hh, allowed, depth+1)
		if err != nil || c == "" {
			return "", err
		}
		if severity(c) > severity(class) {
			class = c
		}
	}
	return class, nil
}

// gen returns object n's generation in this revision.
func (d *diffState) gen(n int) int {
	e, _, _ := d.cc.rv.Entry(n)
	return entryGen(e)
}

// describe names a holder for change descriptions.
func (d *diffState) describe(h holder) string {
	if h.num == trailer {
		return fmt.Sprintf("the trailer (/%s)", h.key)
	}
	what := "object"
	if o, err := d.cc.rv.Get(pdf.Ref{Num: h.num, Gen: d.gen(h.num)}); err == nil {
		what = kind(o)
	} else if o, err := d.pc.rv.Get(pdf.Ref{Num: h.num, Gen: d.gen(h.num)}); err == nil {
		what = kind(o)
	}
	if f := d.pc.fields[h.num]; f != nil {
		what = fmt.Sprintf("the widget of field %q", f.name)
	}
	if h.key == "" {
		return fmt.Sprintf("object %d (%s)", h.num, what)
	}
	return fmt.Sprintf("object %d (%s, /%s)", h.num, what, h.key)
}

// fieldsDiff classifies a change of the AcroForm /Fields array: only new
// signature fields may be added; each one is classified on its own.
func (d *diffState) fieldsDiff(oldO, newO pdf.Object) (string, string) {
	oldA, _ := d.pc.rv.Array(oldO)
	newA, err := d.cc.rv.Array(newO)
	if err != nil {
		return Other, "AcroForm /Fields is not an array"
	}
	added, removed := refDiff(oldA, newA)
	if len(removed) > 0 {
		return Other, fmt.Sprintf("form fields removed: %v", removed)
	}
	if !d.v.sameDirect(oldA, newA) {
		return Other, "direct form field dictionaries in /Fields changed"
	}
	for _, r := range added {
		switch f := d.cc.fields[r.Num]; {
		case f == nil || !f.sig:
			return Other, fmt.Sprintf("form field %v added that is not a signature field", r)
		case !d.isNew(r.Num):
			return Other, fmt.Sprintf("object %v, which existed before this update, added as a form field", r)
		}
	}
	return ClassMetadata, fmt.Sprintf("%d signature field(s) added", len(added))
}

// annotsDiff classifies a change of a page's /Annots.
func (d *diffState) annotsDiff(oldO, newO pdf.Object) (string, string) {
	pc, cc := d.pc, d.cc
	oldA, _ := pc.rv.Array(oldO)
	newA, err := cc.rv.Array(newO)
	if err != nil && newO != nil {
		return Other, "/Annots is not an array"
	}
	added, removed := refDiff(oldA, newA)
	class := ClassMetadata
	var descs []string
	raise := func(c, desc string) {
		if severity(c) > severity(class) {
			class = c
		}
		descs = append(descs, desc)
	}
	for _, r := range added {
		f := cc.fields[r.Num]
		ad, _ := cc.rv.Dict(r)
		switch {
		case f != nil && d.signs[f]:
			raise(ClassSignature, fmt.Sprintf("signature widget %v added", r))
		case f.signed() || pc.fields[r.Num].signed():
			raise(Other, fmt.Sprintf("widget %v of a signed signature field added to a page", r))
		case f != nil && d.isNew(r.Num):
			raise(ClassMetadata, fmt.Sprintf("widget %v of field %q added", r, f.name)) // classified with the field
		case f != nil && f.sig && ad != nil && visibleUnsigned(ad):
			raise(Annotations, fmt.Sprintf("unsigned signature widget %v with a visible appearance added", r))
		case f != nil && f.sig:
			raise(ClassMetadata, fmt.Sprintf("invisible unsigned signature widget %v added", r))
		case f != nil:
			raise(Other, fmt.Sprintf("form field widget %v added", r))
		case isAnnot(ad):
			raise(Annotations, fmt.Sprintf("/%s annotation %v added", ad.Name("Subtype"), r))
		default:
			raise(Annotations, fmt.Sprintf("annotation %v added", r))
		}
	}
	for _, r := range removed {
		if _, isField := pc.fields[r.Num]; isField {
			raise(Other, fmt.Sprintf("form field widget %v removed", r))
		} else {
			raise(Annotations, fmt.Sprintf("annotation %v removed", r))
		}
	}
	// Direct annotation dictionaries are compared as a whole.
	if !d.v.sameDirect(oldA, newA) {
		raise(Annotations, "direct annotations changed")
	}
	// Annotations are drawn in array order, the last on top: reordering
	// (or repeating) the ones that stay changes which of two overlapping
	// annotations shows.
	if !slices.Equal(kept(newA, oldA), kept(oldA, newA)) {
		raise(Annotations, "annotations reordered or repeated (which one is drawn on top changes)")
	}
	if len(descs) == 0 {
		descs = append(descs, "the same annotations in the same order")
	}
	return class, joinStrings(descs)
}

// kept returns the references of a that b holds too, in a's order.
func kept(a, b pdf.Array) []pdf.Ref {
	in := map[pdf.Ref]bool{}
	for _, x := range b {
		if r, ok := x.(pdf.Ref); ok {
			in[r] = true
		}
	}
	var out []pdf.Ref
	for _, x := range a {
		if r, ok := x.(pdf.Ref); ok && in[r] {
			out = append(out, r)
		}
	}
	return out
}

// visibleUnsigned reports whether a signature field's widget has no /V
// but an appearance with an area: it shows something without being a
// signature (the "sneaky signature" attack).
func visibleUnsigned(d pdf.Dict) bool {
	if _, signed := d["V"]; signed {
		return false
	}
	if _, ok := d["AP"]; !ok {
		return false
	}
	rect, ok := d["Rect"].(pdf.Array)
	if !ok || len(rect) != 4 {
		return false
	}
	var f [4]float64
	for i, x := range rect {
		switch x := x.(type) {
		case pdf.Integer:
			f[i] = float64(x)
		case pdf.Real:
			f[i] = float64(x)
		}
	}
	return f[2] != f[0] && f[3] != f[1]
}

// sameDirect reports whether two arrays hold the same direct (not
// reference) elements in the same order.
func (v *verifier) sameDirect(a, b pdf.Array) bool {
	direct := func(arr pdf.Array) pdf.Array {
		out := pdf.Array{}
		for _, x := range arr {
			if _, ok := x.(pdf.Ref); !ok {
				out = append(out, x)
			}
		}
		return out
	}
	return v.mustEqual(direct(a), direct(b))
}

// allAnnots reports whether o is a non-empty array of annotation
// references.
func (v *verifier) allAnnots(o pdf.Object, c *revCtx) bool {
	a, ok := o.(pdf.Array)
	if !ok || len(a) == 0 {
		return false
	}
	for _, x := range a {
		r, ok := x.(pdf.Ref)
		if !ok {
			return false
		}
		d, err := c.rv.Get(r)
		if err != nil || !(isAnnot(d) || isWidget(d)) {
			return false
		}
	}
	return true
}

// isWidget reports whether o is a widget annotation dictionary.
func isWidget(o pdf.Object) bool {
	d, ok := o.(pdf.Dict)
	return ok && d.Name("Subtype") == "Widget"
}

func isArray(o pdf.Object) bool { _, ok := o.(pdf.Array); return ok }

// refDiff returns the references in b that are not in a, and those in a
// that are not in b.
func refDiff(a, b pdf.Array) (added, removed []pdf.Ref) {
	in := func(arr pdf.Array) map[pdf.Ref]bool {
		m := map[pdf.Ref]bool{}
		for _, x := range arr {
			if r, ok := x.(pdf.Ref); ok {
				m[r] = true
			}
		}
		return m
	}
	am, bm := in(a), in(b)
	for _, x := range b {
		if r, ok := x.(pdf.Ref); ok && !am[r] {
			added = append(added, r)
		}
	}
	for _, x := range a {
		if r, ok := x.(pdf.Ref); ok && !bm[r] {
			removed = append(removed, r)
		}
	}
	return added, removed
}

// changedKeys lists the keys whose values differ, sorted.
func changedKeys(v *verifier, a, b pdf.Dict) []pdf.Name {
	var out []pdf.Name
	for k, x := range b {
		if y, ok := a[k]; !ok || !v.mustEqual(x, y) {
			out = append(out, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func joinNames(ns []pdf.Name) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = "/" + string(n)
	}
	return joinStrings(s)
}

func joinStrings(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}

// mustEqual is equal with read errors counted as a difference.
func (v *verifier) mustEqual(a, b pdf.Object) bool {
	eq, err := v.equal(a, b, 0)
	return err == nil && eq
}

// equal compares two objects; streams are compared by dictionary and raw
// bytes, read in chunks.
func (v *verifier) equal(a, b pdf.Object, depth int) (bool, error) {
	if depth > 100 {
		return false, nil
	}
	switch x := a.(type) {
	case pdf.Dict:
		y, ok := b.(pdf.Dict)
		if !ok || len(x) != len(y) {
			return false, nil
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok {
				return false, nil
			}
			if eq, err := v.equal(xv, yv, depth+1); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	case pdf.Array:
		y, ok := b.(pdf.Array)
		if !ok || len(x) != len(y) {
			return false, nil
		}
		for i := range x {
			if eq, err := v.equal(x[i], y[i], depth+1); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	case pdf.String:
		y, ok := b.(pdf.String)
		return ok && bytes.Equal(x.Value, y.Value), nil
	case *pdf.Stream:
		y, ok := b.(*pdf.Stream)
		if !ok || x.Length != y.Length {
			return false, nil
		}
		if eq, err := v.equal(x.Dict, y.Dict, depth+1); err != nil || !eq {
			return false, err
		}
		if x.Offset == y.Offset {
			return true, nil
		}
		return v.sameBytes(x.Offset, y.Offset, x.Length)
	case pdf.Integer:
		y, ok := b.(pdf.Integer)
		return ok && x == y, nil
	case pdf.Real:
		y, ok := b.(pdf.Real)
		return ok && x == y, nil
	case pdf.Name:
		y, ok := b.(pdf.Name)
		return ok && x == y, nil
	case pdf.Bool:
		y, ok := b.(pdf.Bool)
		return ok && x == y, nil
	case pdf.Ref:
		y, ok := b.(pdf.Ref)
		return ok && x == y, nil
	case pdf.Null:
		_, ok := b.(pdf.Null)
		return ok, nil
	}
	return false, nil
}

// sameBytes compares n bytes at two offsets of the file.
func (v *verifier) sameBytes(a, b, n int64) (bool, error) {
	const chunk = 64 << 10
	ba, bb := make([]byte, chunk), make([]byte, chunk)
	for n > 0 {
		k := min(int64(chunk), n)
		if m, err := v.ra.ReadAt(ba[:k], a); int64(m) < k {
			return false, err
		}
		if m, err := v.ra.ReadAt(bb[:k], b); int64(m) < k {
			return false, err
		}
		if !bytes.Equal(ba[:k], bb[:k]) {
			return false, nil
		}
		a, b, n = a+k, b+k, n-k
	}
	return true, nil
}
