package verify

import (
	"bytes"
	"fmt"
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

// revCtx is what the classification needs to know about one revision.
type revCtx struct {
	rv       *pdf.Revision
	catRef   pdf.Ref
	afRef    pdf.Ref // zero when the AcroForm is direct or absent
	fieldArr pdf.Ref // zero when /Fields is direct or absent
	info     pdf.Ref
	metadata pdf.Ref
	fields   map[int]fieldRole // terminal fields and their widgets
	sigDicts map[int]bool
	dss      map[int]bool
	ap       map[int]string // appearance streams of widgets: owning class
}

type fieldRole struct {
	name string
	sig  bool
}

func newRevCtx(rv *pdf.Revision) (*revCtx, error) {
	c := &revCtx{rv: rv, fields: map[int]fieldRole{}, sigDicts: map[int]bool{}, dss: map[int]bool{}, ap: map[int]string{}}
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
	}
	fields, err := rv.Fields()
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		role := fieldRole{name: f.Name, sig: f.Type == "Sig"}
		c.fields[f.Ref.Num] = role
		widgets := []pdf.Ref{f.Ref}
		if kids, err := rv.Array(f.Dict["Kids"]); err == nil {
			for _, k := range kids {
				if kr, ok := k.(pdf.Ref); ok {
					c.fields[kr.Num] = role
					widgets = append(widgets, kr)
				}
			}
		}
		if role.sig {
			if vr, ok := f.Dict["V"].(pdf.Ref); ok {
				c.sigDicts[vr.Num] = true
			}
		}
		class := FormFilling
		if role.sig {
			class = ClassSignature
		}
		for _, w := range widgets {
			if wd, err := rv.Dict(w); err == nil {
				c.addAP(wd, class)
			}
		}
	}
	if d, ok := cat["DSS"]; ok {
		c.walk(d, c.dss, 1<<16)
	}
	return c, nil
}

// addAP records the appearance streams of an annotation dictionary.
func (c *revCtx) addAP(d pdf.Dict, class string) {
	ap, err := c.rv.Dict(d["AP"])
	if err != nil {
		return
	}
	for _, k := range []pdf.Name{"N", "R", "D"} {
		switch x := ap[k].(type) {
		case pdf.Ref:
			c.ap[x.Num] = class
		case pdf.Dict:
			for _, y := range x {
				if r, ok := y.(pdf.Ref); ok {
					c.ap[r.Num] = class
				}
			}
		}
	}
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

	var changes []*change
	byNum := map[int]*change{}
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
		if st, ok := newObj.(*pdf.Stream); ok {
			if t := st.Dict.Name("Type"); t == "XRef" || t == "ObjStm" {
				continue
			}
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
		ch := &change{num: n, old: oldObj, new: newObj}
		changes = append(changes, ch)
		byNum[n] = ch
	}
	for _, ch := range changes {
		if ch.class == "" {
			v.classify(ch, pc, cc)
		}
	}
	// New objects belong to the change that refers to them.
	for _, ch := range changes {
		if ch.class != "" && ch.class != Other && ch.new != nil {
			v.own(ch.new, ch.class, byNum, 0)
		}
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
			if role, ok := cc.fields[ch.num]; ok {
				u.filled = append(u.filled, role.name)
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
// owned by another change) and ch.desc.
func (v *verifier) classify(ch *change, pc, cc *revCtx) {
	n := ch.num
	set := func(class, format string, args ...any) {
		ch.class = class
		ch.desc = fmt.Sprintf("object %d: ", n) + fmt.Sprintf(format, args...)
	}
	oldD, oldIsD := asDict(ch.old)
	newD, newIsD := asDict(ch.new)
	switch {
	case n == cc.catRef.Num:
		v.classifyKeys(ch, oldD, newD, pc, cc, "catalog", map[pdf.Name]string{
			"AcroForm": "acroform", "DSS": ClassDSS, "Metadata": ClassMetadata,
			"Version": ClassMetadata, "Extensions": ClassMetadata,
		})
	case n == cc.afRef.Num && cc.afRef.Num != 0:
		v.classifyKeys(ch, oldD, newD, pc, cc, "AcroForm", acroFormKeys)
	case n == cc.fieldArr.Num && cc.fieldArr.Num != 0:
		class, desc := v.fieldsDiff(ch.old, ch.new, pc, cc)
		set(class, "%s", desc)
	case cc.sigDicts[n]:
		if ch.old != nil {
			set(Other, "an existing signature dictionary was changed")
		} else {
			set(ClassSignature, "new signature dictionary")
		}
	case cc.fields[n] != (fieldRole{}):
		v.classifyField(ch, oldD, newD, cc.fields[n])
	case cc.dss[n]:
		set(ClassDSS, "DSS validation data")
	case n == cc.info.Num && cc.info.Num != 0:
		set(ClassMetadata, "document information dictionary")
	case n == cc.metadata.Num && cc.metadata.Num != 0:
		set(ClassMetadata, "XMP metadata")
	case isAnnot(ch.new) && (ch.old == nil || isAnnot(ch.old)):
		if ch.old == nil {
			set(Annotations, "new /%s annotation", newD.Name("Subtype"))
		} else {
			set(Annotations, "/%s annotation changed", newD.Name("Subtype"))
		}
		cc.addAP(newD, Annotations)
	case ch.old != nil && oldIsD && newIsD && oldD.Name("Type") == "Page" && newD.Name("Type") == "Page":
		keys := changedKeys(v, oldD, newD)
		if len(keys) == 1 && keys[0] == "Annots" {
			class, desc := v.annotsDiff(oldD["Annots"], newD["Annots"], pc, cc)
			set(class, "page: %s", desc)
			return
		}
		set(Other, "page dictionary changed (%s)", joinNames(keys))
	case ch.old != nil && isArray(ch.old) && isArray(ch.new) && v.allAnnots(ch.old, pc) && v.allAnnots(ch.new, cc):
		class, desc := v.annotsDiff(ch.old, ch.new, pc, cc)
		set(class, "annotation array: %s", desc)
	case ch.old != nil && cc.ap[n] != "":
		set(cc.ap[n], "appearance stream changed")
	case ch.old == nil:
		// A new object: owned by the change that refers to it.
	default:
		set(Other, "%s changed", kind(ch.old))
	}
}

var acroFormKeys = map[pdf.Name]string{
	"Fields": "fields", "SigFlags": ClassSignature, "DR": ClassMetadata, "DA": ClassMetadata,
	"NeedAppearances": FormFilling,
}

// classifyKeys classifies a change of the catalog or the AcroForm by the
// keys that changed.
func (v *verifier) classifyKeys(ch *change, oldD, newD pdf.Dict, pc, cc *revCtx, what string, allowed map[pdf.Name]string) {
	if newD == nil {
		ch.class, ch.desc = Other, fmt.Sprintf("object %d: the %s is not a dictionary", ch.num, what)
		return
	}
	if oldD == nil {
		oldD = pdf.Dict{}
	}
	class := ClassMetadata
	var descs []string
	for _, k := range changedKeys(v, oldD, newD) {
		c, ok := allowed[k]
		switch {
		case !ok:
			c = Other
		case c == "acroform":
			if _, direct := newD[k].(pdf.Dict); direct {
				od, _ := oldD[k].(pdf.Dict)
				sub := &change{num: ch.num, old: od, new: newD[k]}
				v.classifyKeys(sub, od, newD[k].(pdf.Dict), pc, cc, "AcroForm", acroFormKeys)
				c = sub.class
				descs = append(descs, strings.TrimPrefix(sub.desc, fmt.Sprintf("object %d: ", ch.num)))
			} else {
				c = ClassMetadata // an indirect AcroForm is classified on its own
			}
		case c == "fields":
			var d string
			c, d = v.fieldsDiff(oldD[k], newD[k], pc, cc)
			descs = append(descs, d)
		}
		if severity(c) > severity(class) {
			class = c
		}
		descs = append(descs, fmt.Sprintf("/%s (%s)", k, c))
	}
	ch.class = class
	ch.desc = fmt.Sprintf("object %d: %s changed: %s", ch.num, what, joinStrings(descs))
}

// classifyField classifies a change of a form field or widget.
func (v *verifier) classifyField(ch *change, oldD, newD pdf.Dict, role fieldRole) {
	n := ch.num
	if newD == nil {
		ch.class, ch.desc = Other, fmt.Sprintf("object %d: field %q is not a dictionary", n, role.name)
		return
	}
	if ch.old == nil {
		if role.sig && visibleUnsigned(newD) {
			ch.class, ch.desc = Annotations, fmt.Sprintf("object %d: new unsigned signature field %q with a visible appearance", n, role.name)
		} else if role.sig {
			ch.class, ch.desc = ClassSignature, fmt.Sprintf("object %d: new signature field %q", n, role.name)
		} else {
			ch.class, ch.desc = Other, fmt.Sprintf("object %d: new form field %q", n, role.name)
		}
		return
	}
	class := ClassMetadata
	for _, k := range changedKeys(v, oldD, newD) {
		c := Other
		switch {
		case role.sig && k == "V":
			if _, had := oldD["V"]; !had {
				c = ClassSignature
			}
		case role.sig && (k == "AP" || k == "AS" || k == "F" || k == "MK" || k == "P"):
			c = ClassSignature
		case !role.sig && (k == "V" || k == "AS" || k == "AP"):
			c = FormFilling
		}
		if severity(c) > severity(class) {
			class = c
		}
	}
	ch.class = class
	if class == Other {
		ch.desc = fmt.Sprintf("object %d: field %q changed beyond filling or signing (%s)", n, role.name, joinNames(changedKeys(v, oldD, newD)))
	} else {
		ch.desc = fmt.Sprintf("object %d: field %q (%s)", n, role.name, class)
	}
}

// fieldsDiff classifies a change of the AcroForm /Fields array: only new
// signature fields may be added.
func (v *verifier) fieldsDiff(oldO, newO pdf.Object, pc, cc *revCtx) (string, string) {
	oldA, _ := pc.rv.Array(oldO)
	newA, err := cc.rv.Array(newO)
	if err != nil {
		return Other, "AcroForm /Fields is not an array"
	}
	added, removed := refDiff(oldA, newA)
	if len(removed) > 0 {
		return Other, fmt.Sprintf("form fields removed: %v", removed)
	}
	for _, r := range added {
		if !cc.fields[r.Num].sig {
			return Other, fmt.Sprintf("form field %v added that is not a signature field", r)
		}
	}
	return ClassSignature, fmt.Sprintf("%d signature field(s) added", len(added))
}

// annotsDiff classifies a change of a page's /Annots.
func (v *verifier) annotsDiff(oldO, newO pdf.Object, pc, cc *revCtx) (string, string) {
	oldA, _ := pc.rv.Array(oldO)
	newA, err := cc.rv.Array(newO)
	if err != nil && newO != nil {
		return Other, "/Annots is not an array"
	}
	added, removed := refDiff(oldA, newA)
	class := ClassMetadata
	var descs []string
	raise := func(c, d string) {
		if severity(c) > severity(class) {
			class = c
		}
		descs = append(descs, d)
	}
	for _, r := range added {
		role, isField := cc.fields[r.Num]
		d, _ := cc.rv.Dict(r)
		switch {
		case isField && role.sig && d != nil && visibleUnsigned(d):
			raise(Annotations, fmt.Sprintf("unsigned signature widget %v with a visible appearance added", r))
		case isField && role.sig:
			raise(ClassSignature, fmt.Sprintf("signature widget %v added", r))
		case isField:
			raise(Other, fmt.Sprintf("form field widget %v added", r))
		case isAnnot(d):
			raise(Annotations, fmt.Sprintf("/%s annotation %v added", d.Name("Subtype"), r))
			cc.addAP(d, Annotations)
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
	if countDirect(oldA) != countDirect(newA) {
		raise(Annotations, "direct annotations changed")
	}
	if len(descs) == 0 {
		descs = append(descs, "annotations reordered")
	}
	return class, joinStrings(descs)
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

func countDirect(a pdf.Array) int {
	n := 0
	for _, x := range a {
		if _, ok := x.(pdf.Ref); !ok {
			n++
		}
	}
	return n
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
