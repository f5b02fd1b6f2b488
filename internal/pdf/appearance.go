package pdf

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.DecodeConfig
	"image/png"
	"strconv"
)

// Appearance places a visible seal: an image (the engineer's seal) on the
// left and text lines (name, licence, date) on the right of a rectangle.
type Appearance struct {
	// Page is the 1-based page number.
	Page int
	// Rect is the rectangle [llx lly urx ury] in the page's default user
	// space (points; see [Revision.PageBox] for the page's /MediaBox). On a
	// page with /Rotate the seal turns with the page content.
	Rect [4]float64
	// Image is an optional PNG or JPEG seal image. JPEG is embedded as is
	// (DCTDecode); PNG is decoded and re-encoded as Flate RGB with an SMask
	// for its alpha channel.
	Image []byte
	// Lines are drawn in Helvetica, top to bottom.
	Lines []string
}

// maxImagePixels bounds the decoded size of a PNG seal image.
const maxImagePixels = 16 << 20

func rectArray(r [4]float64) Array {
	a := make(Array, 4)
	for i, v := range r {
		a[i] = Real(v)
	}
	return a
}

// appearance writes the widget's normal appearance stream and what it uses,
// and returns its reference. An invisible seal gets an empty appearance (PDF/A
// asks every widget for one).
func (u *update) appearance(alloc func() Ref, opts SealOptions) (Ref, error) {
	ref := alloc()
	form := Dict{"Type": Name("XObject"), "Subtype": Name("Form")}
	v := opts.Visible
	if v == nil {
		form["BBox"] = Array{Integer(0), Integer(0), Integer(0), Integer(0)}
		return ref, u.stream(ref, form, nil)
	}
	w, h := v.Rect[2]-v.Rect[0], v.Rect[3]-v.Rect[1]
	if !(w > 0 && h > 0 && w < 14400 && h < 14400) {
		return Ref{}, fmt.Errorf("%w: seal rectangle %v has no area or is too large", ErrInvalidInput, v.Rect)
	}
	form["BBox"] = Array{Integer(0), Integer(0), Real(w), Real(h)}
	res := Dict{}
	var content bytes.Buffer
	textX := 0.0
	if len(v.Image) > 0 {
		img, iw, ih, err := u.image(alloc, v.Image)
		if err != nil {
			return Ref{}, err
		}
		res["XObject"] = Dict{"Im1": img}
		box := w
		if len(v.Lines) > 0 {
			box = min(h, w/2)
		}
		scale := min(box/float64(iw), h/float64(ih))
		dw, dh := float64(iw)*scale, float64(ih)*scale
		fmt.Fprintf(&content, "q %s 0 0 %s %s %s cm /Im1 Do Q\n", num(dw), num(dh), num((box-dw)/2), num((h-dh)/2))
		textX = box + 0.05*h
	}
	if len(v.Lines) > 0 {
		font := alloc()
		if err := u.object(font, Dict{"Type": Name("Font"), "Subtype": Name("Type1"), "BaseFont": Name("Helvetica"), "Encoding": Name("WinAnsiEncoding")}); err != nil {
			return Ref{}, err
		}
		res["Font"] = Dict{"Helv": font}
		longest := 1
		for _, l := range v.Lines {
			longest = max(longest, len([]rune(l)))
		}
		lead := h / float64(len(v.Lines))
		size := min(lead/1.2, (w-textX)/(0.55*float64(longest)))
		if size < 1 {
			return Ref{}, fmt.Errorf("%w: seal rectangle too small for its text", ErrInvalidInput)
		}
		fmt.Fprintf(&content, "BT /Helv %s Tf 0 g %s %s Td\n", num(size), num(textX), num(h-lead+(lead-size)/2))
		for i, l := range v.Lines {
			if i > 0 {
				fmt.Fprintf(&content, "0 %s Td\n", num(-lead))
			}
			content.Write(appendLiteral(nil, winAnsi(l)))
			content.WriteString(" Tj\n")
		}
		content.WriteString("ET\n")
	}
	form["Resources"] = res
	return ref, u.stream(ref, form, content.Bytes())
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }

// winAnsi maps text to WinAnsiEncoding for the standard Helvetica font:
// Latin-1 characters pass, others become '?'.
func winAnsi(s string) []byte {
	var b []byte
	for _, r := range s {
		switch {
		case r >= 0x20 && r < 0x7f, r >= 0xa0 && r <= 0xff:
			b = append(b, byte(r))
		default:
			b = append(b, '?')
		}
	}
	return b
}

// image writes the seal image XObject and returns it with its size.
func (u *update) image(alloc func() Ref, data []byte) (Ref, int, int, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Ref{}, 0, 0, fmt.Errorf("%w: seal image: %v", ErrInvalidInput, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxImagePixels {
		return Ref{}, 0, 0, fmt.Errorf("%w: seal image of %dx%d pixels is empty or too large", ErrInvalidInput, cfg.Width, cfg.Height)
	}
	ref := alloc()
	d := Dict{"Type": Name("XObject"), "Subtype": Name("Image"), "Width": Integer(cfg.Width), "Height": Integer(cfg.Height), "BitsPerComponent": Integer(8)}
	switch format {
	case "jpeg":
		switch cfg.ColorModel {
		case color.GrayModel:
			d["ColorSpace"] = Name("DeviceGray")
		case color.YCbCrModel:
			d["ColorSpace"] = Name("DeviceRGB")
		default:
			return Ref{}, 0, 0, fmt.Errorf("%w: seal image: only grey or RGB JPEG is supported", ErrInvalidInput)
		}
		d["Filter"] = Name("DCTDecode")
		return ref, cfg.Width, cfg.Height, u.stream(ref, d, data)
	case "png":
	default:
		return Ref{}, 0, 0, fmt.Errorf("%w: seal image must be PNG or JPEG, not %s", ErrInvalidInput, format)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return Ref{}, 0, 0, fmt.Errorf("%w: seal image: %v", ErrInvalidInput, err)
	}
	b := img.Bounds()
	rgb := make([]byte, 0, 3*b.Dx()*b.Dy())
	alpha := make([]byte, 0, b.Dx()*b.Dy())
	opaque := true
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			rgb = append(rgb, c.R, c.G, c.B)
			alpha = append(alpha, c.A)
			opaque = opaque && c.A == 255
		}
	}
	d["ColorSpace"] = Name("DeviceRGB")
	d["Filter"] = Name("FlateDecode")
	if !opaque {
		mask := alloc()
		md := Dict{"Type": Name("XObject"), "Subtype": Name("Image"), "Width": Integer(cfg.Width), "Height": Integer(cfg.Height),
			"BitsPerComponent": Integer(8), "ColorSpace": Name("DeviceGray"), "Filter": Name("FlateDecode")}
		if err := u.stream(mask, md, deflate(alpha)); err != nil {
			return Ref{}, 0, 0, err
		}
		d["SMask"] = mask
	}
	return ref, cfg.Width, cfg.Height, u.stream(ref, d, deflate(rgb))
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
