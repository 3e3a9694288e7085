// All of the game's art, drawn for roomcast as SVG: planet backgrounds and building
// modules. Each picture is a self-contained SVG document (its gradient ids cannot
// collide with another's), turned into a data: URL for <img> and CSS.

/** World size in game units: icon x/y are the module's centre in this box. */
export const WORLD = Object.freeze({ width: 1600, height: 1000 });

/**
 * @typedef {object} PlanetTheme
 * @property {string} name
 * @property {[string, string]} sky       top and horizon colours of the sky
 * @property {[string, string, string]} ground  surface light, mid, deep
 * @property {string} atmo               atmosphere glow
 * @property {string} nebula             nebula tint
 * @property {'moons'|'ringed'|'moon'|'sun'|'twins'|'earth'} sky_body
 * @property {string} body               sky body colour
 * @property {'craters'|'ice'|'meadow'|'lava'|'dunes'|'crystals'|'ocean'|'dust'} surface
 * @property {number} seed
 */

/** @type {readonly PlanetTheme[]} */
export const PLANETS = Object.freeze([
  { name: 'Ares', sky: ['#07051a', '#3b1030'], ground: ['#e0714f', '#a63d2a', '#4a140e'], atmo: '#ff9a6b', nebula: '#ff4f6d', sky_body: 'moons', body: '#d9c6b0', surface: 'craters', seed: 11 },
  { name: 'Glacia', sky: ['#030a1c', '#173b63'], ground: ['#f4fbff', '#9cc9ea', '#3d6f99'], atmo: '#aef0ff', nebula: '#4fa8ff', sky_body: 'ringed', body: '#f2a7c3', surface: 'ice', seed: 23 },
  { name: 'Verdant', sky: ['#03110f', '#0f4140'], ground: ['#8fdc72', '#3f9a4f', '#143f27'], atmo: '#b6ffbe', nebula: '#2fe0b0', sky_body: 'moon', body: '#e8e3cf', surface: 'meadow', seed: 37 },
  { name: 'Ember', sky: ['#0d0306', '#40100a'], ground: ['#5a3532', '#2f1a1b', '#0e0708'], atmo: '#ff6a2b', nebula: '#ff3d1f', sky_body: 'sun', body: '#ff8a3d', surface: 'lava', seed: 41 },
  { name: 'Dune', sky: ['#120a24', '#6b3d5c'], ground: ['#ffd98a', '#d39a4e', '#7a4a22'], atmo: '#ffe2a8', nebula: '#ff9e6b', sky_body: 'twins', body: '#fff1c4', surface: 'dunes', seed: 53 },
  { name: 'Amethyst', sky: ['#07041a', '#2d1657'], ground: ['#b597f2', '#6e48c2', '#2a1760'], atmo: '#dcc6ff', nebula: '#b06bff', sky_body: 'ringed', body: '#6fe3d2', surface: 'crystals', seed: 67 },
  { name: 'Oceanus', sky: ['#010b16', '#0a3a58'], ground: ['#39b7d6', '#16739d', '#07324f'], atmo: '#8ff8ff', nebula: '#24c6ff', sky_body: 'moon', body: '#cfd9e6', surface: 'ocean', seed: 79 },
  { name: 'Ashen', sky: ['#050507', '#1d1d27'], ground: ['#c4c4cb', '#7b7b86', '#34343d'], atmo: '#eef0ff', nebula: '#7c8cff', sky_body: 'earth', body: '#3d8bff', surface: 'dust', seed: 97 },
]);

/** A small seeded PRNG (mulberry32), so every planet draws the same each time. */
/** @param {number} seed */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** @param {number} n */
const f = (n) => (Math.round(n * 10) / 10).toString();

/** @param {string} svg */
export function svgUrl(svg) {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

// The surface is a huge circle whose top shows as a curved horizon.
const HORIZON = 330;
const R = 2600;
const CX = 800;
const CY = HORIZON + R;

/** y of the horizon above world x. @param {number} x */
function horizonAt(x) {
  const dx = x - CX;
  return CY - Math.sqrt(R * R - dx * dx);
}

/**
 * @param {PlanetTheme} t
 * @param {() => number} rand
 */
function skyBody(t, rand) {
  switch (t.sky_body) {
    case 'moons':
      return `
  <g>
    <circle cx="1230" cy="150" r="46" fill="${t.body}"/>
    <circle cx="1230" cy="150" r="46" fill="url(#bodyShade)"/>
    <circle cx="1214" cy="138" r="9" fill="#000" opacity=".12"/><circle cx="1246" cy="166" r="6" fill="#000" opacity=".12"/>
    <circle cx="1352" cy="92" r="17" fill="${t.body}" opacity=".85"/>
    <circle cx="1352" cy="92" r="17" fill="url(#bodyShade)"/>
  </g>`;
    case 'ringed':
      return `
  <g transform="rotate(-16 1210 160)">
    <ellipse cx="1210" cy="160" rx="170" ry="34" fill="none" stroke="${t.body}" stroke-opacity=".35" stroke-width="14"/>
    <circle cx="1210" cy="160" r="92" fill="${t.body}"/>
    <path d="M1118 150 Q1210 130 1302 150 L1302 165 Q1210 146 1118 165Z" fill="#fff" opacity=".18"/>
    <path d="M1122 188 Q1210 170 1298 188 L1294 200 Q1210 184 1126 200Z" fill="#000" opacity=".12"/>
    <circle cx="1210" cy="160" r="92" fill="url(#bodyShade)"/>
    <path d="M1040 160 A170 34 0 0 0 1380 160" fill="none" stroke="${t.body}" stroke-opacity=".8" stroke-width="10"/>
  </g>`;
    case 'moon':
      return `
  <g>
    <circle cx="320" cy="150" r="120" fill="${t.atmo}" opacity=".08"/>
    <circle cx="320" cy="150" r="70" fill="${t.body}"/>
    <circle cx="296" cy="128" r="14" fill="#000" opacity=".1"/><circle cx="340" cy="170" r="20" fill="#000" opacity=".08"/><circle cx="348" cy="124" r="7" fill="#000" opacity=".1"/>
    <circle cx="320" cy="150" r="70" fill="url(#bodyShade)"/>
  </g>`;
    case 'sun':
      return `
  <g>
    <circle cx="1260" cy="190" r="260" fill="url(#sunGlow)"/>
    <circle cx="1260" cy="190" r="78" fill="${t.body}"/>
    <circle cx="1260" cy="190" r="60" fill="#ffd3a0" opacity=".7"/>
  </g>`;
    case 'twins':
      return `
  <g>
    <circle cx="1180" cy="170" r="220" fill="url(#sunGlow)"/>
    <circle cx="1180" cy="170" r="46" fill="${t.body}"/>
    <circle cx="1290" cy="120" r="120" fill="url(#sunGlow)" opacity=".7"/>
    <circle cx="1290" cy="120" r="24" fill="#ffd0a6"/>
  </g>`;
    case 'earth': {
      let clouds = '';
      for (let i = 0; i < 6; i++) {
        const x = 250 + rand() * 140;
        const y = 110 + rand() * 110;
        clouds += `<ellipse cx="${f(x)}" cy="${f(y)}" rx="${f(20 + rand() * 26)}" ry="${f(5 + rand() * 5)}" fill="#fff" opacity=".7"/>`;
      }
      return `
  <g>
    <circle cx="320" cy="170" r="112" fill="${t.atmo}" opacity=".12"/>
    <clipPath id="earthClip"><circle cx="320" cy="170" r="96"/></clipPath>
    <circle cx="320" cy="170" r="96" fill="${t.body}"/>
    <g clip-path="url(#earthClip)">
      <path d="M250 110 q30 -20 60 0 q10 30 -20 44 q-30 10 -40 -14z M330 190 q30 -14 50 10 q0 40 -36 44 q-20 -20 -14 -54z" fill="#59b36b"/>
      ${clouds}
    </g>
    <circle cx="320" cy="170" r="96" fill="url(#bodyShade)"/>
  </g>`;
    }
  }
}

/**
 * @param {PlanetTheme} t
 * @param {() => number} rand
 */
function surfaceDetail(t, rand) {
  let out = '';
  /** A point on the visible surface, biased away from the horizon line. */
  const spot = () => {
    const x = rand() * 1600;
    const top = horizonAt(x) + 30;
    return { x, y: top + rand() * (1000 - top) };
  };
  // Perspective: things nearer the horizon are flatter and smaller.
  /** @param {number} y */
  const depth = (y) => 0.35 + 0.65 * ((y - HORIZON) / (1000 - HORIZON));
  switch (t.surface) {
    case 'craters':
    case 'dust': {
      const n = t.surface === 'dust' ? 26 : 16;
      for (let i = 0; i < n; i++) {
        const { x, y } = spot();
        const r = (14 + rand() * 46) * depth(y);
        const ry = r * (0.28 + 0.2 * depth(y));
        out += `<ellipse cx="${f(x)}" cy="${f(y)}" rx="${f(r)}" ry="${f(ry)}" fill="${t.ground[2]}" opacity=".45"/>`;
        out += `<ellipse cx="${f(x + r * 0.08)}" cy="${f(y + ry * 0.16)}" rx="${f(r * 0.84)}" ry="${f(ry * 0.72)}" fill="${t.ground[1]}"/>`;
        out += `<path d="M${f(x - r)} ${f(y)} A${f(r)} ${f(ry)} 0 0 0 ${f(x + r)} ${f(y)}" fill="none" stroke="${t.ground[0]}" stroke-opacity=".55" stroke-width="${f(1 + 2 * depth(y))}"/>`;
      }
      break;
    }
    case 'ice': {
      for (let i = 0; i < 14; i++) {
        const { x, y } = spot();
        let d = `M${f(x)} ${f(y)}`;
        let cx = x;
        let cy = y;
        for (let k = 0; k < 4; k++) {
          cx += (rand() - 0.5) * 160 * depth(y);
          cy += (rand() - 0.3) * 30 * depth(y);
          d += ` L${f(cx)} ${f(cy)}`;
        }
        out += `<path d="${d}" fill="none" stroke="#ffffff" stroke-opacity=".7" stroke-width="${f(1.5 + 2 * depth(y))}" stroke-linecap="round"/>`;
        out += `<path d="${d}" fill="none" stroke="${t.ground[2]}" stroke-opacity=".35" stroke-width="${f(1 + depth(y))}" transform="translate(0 3)"/>`;
      }
      for (let i = 0; i < 8; i++) {
        const { x, y } = spot();
        const s = 26 * depth(y);
        out += `<path d="M${f(x - s)} ${f(y)} L${f(x - s * 0.3)} ${f(y - s * 1.4)} L${f(x + s * 0.2)} ${f(y - s * 0.5)} L${f(x + s * 0.6)} ${f(y - s * 1.1)} L${f(x + s)} ${f(y)}Z" fill="#ffffff" opacity=".8"/>`;
        out += `<path d="M${f(x - s * 0.3)} ${f(y - s * 1.4)} L${f(x + s * 0.2)} ${f(y - s * 0.5)} L${f(x + s)} ${f(y)} L${f(x)} ${f(y)}Z" fill="${t.ground[1]}" opacity=".6"/>`;
      }
      break;
    }
    case 'meadow': {
      for (let i = 0; i < 10; i++) {
        const { x, y } = spot();
        const w = (120 + rand() * 200) * depth(y);
        out += `<ellipse cx="${f(x)}" cy="${f(y)}" rx="${f(w)}" ry="${f(w * 0.16)}" fill="${i % 2 ? t.ground[0] : t.ground[2]}" opacity=".35"/>`;
      }
      for (let i = 0; i < 60; i++) {
        const { x, y } = spot();
        const s = (5 + rand() * 8) * depth(y);
        out += `<path d="M${f(x)} ${f(y)} l${f(-s * 0.6)} ${f(-s * 1.6)} M${f(x)} ${f(y)} l0 ${f(-s * 2)} M${f(x)} ${f(y)} l${f(s * 0.6)} ${f(-s * 1.6)}" stroke="${t.ground[2]}" stroke-opacity=".55" stroke-width="${f(1 + depth(y))}" stroke-linecap="round"/>`;
      }
      for (let i = 0; i < 18; i++) {
        const { x, y } = spot();
        out += `<circle cx="${f(x)}" cy="${f(y)}" r="${f(2 + 3 * depth(y))}" fill="${['#ffe66b', '#ff9ad5', '#ffffff'][i % 3]}" opacity=".85"/>`;
      }
      break;
    }
    case 'lava': {
      for (let i = 0; i < 12; i++) {
        const { x, y } = spot();
        let d = `M${f(x)} ${f(y)}`;
        let cx = x;
        let cy = y;
        for (let k = 0; k < 5; k++) {
          cx += (rand() - 0.5) * 190 * depth(y);
          cy += (rand() - 0.4) * 40 * depth(y);
          d += ` L${f(cx)} ${f(cy)}`;
        }
        out += `<path d="${d}" fill="none" stroke="#ff6a1f" stroke-width="${f(6 + 8 * depth(y))}" stroke-linecap="round" stroke-linejoin="round" opacity=".35" filter="url(#soft)"/>`;
        out += `<path d="${d}" fill="none" stroke="#ffb347" stroke-width="${f(1.5 + 2.5 * depth(y))}" stroke-linecap="round" stroke-linejoin="round"/>`;
      }
      for (let i = 0; i < 6; i++) {
        const { x, y } = spot();
        const r = (26 + rand() * 30) * depth(y);
        out += `<ellipse cx="${f(x)}" cy="${f(y)}" rx="${f(r)}" ry="${f(r * 0.35)}" fill="#ff7a26" opacity=".9"/>`;
        out += `<ellipse cx="${f(x)}" cy="${f(y)}" rx="${f(r * 0.6)}" ry="${f(r * 0.2)}" fill="#ffd36b"/>`;
      }
      break;
    }
    case 'dunes': {
      for (let i = 0; i < 16; i++) {
        const { x, y } = spot();
        const w = (160 + rand() * 260) * depth(y);
        const h = (14 + rand() * 18) * depth(y);
        out += `<path d="M${f(x - w)} ${f(y)} Q${f(x - w * 0.2)} ${f(y - h * 2)} ${f(x + w * 0.3)} ${f(y - h * 0.4)} Q${f(x + w * 0.6)} ${f(y + h * 0.2)} ${f(x + w)} ${f(y)}Z" fill="${t.ground[2]}" opacity=".22"/>`;
        out += `<path d="M${f(x - w)} ${f(y)} Q${f(x - w * 0.2)} ${f(y - h * 2)} ${f(x + w * 0.3)} ${f(y - h * 0.4)}" fill="none" stroke="${t.ground[0]}" stroke-opacity=".7" stroke-width="${f(1 + 2 * depth(y))}"/>`;
      }
      break;
    }
    case 'crystals': {
      for (let i = 0; i < 16; i++) {
        const { x, y } = spot();
        const s = (12 + rand() * 26) * depth(y);
        const lean = (rand() - 0.5) * s;
        out += `<ellipse cx="${f(x)}" cy="${f(y)}" rx="${f(s * 1.2)}" ry="${f(s * 0.3)}" fill="${t.ground[2]}" opacity=".5"/>`;
        out += `<path d="M${f(x - s * 0.5)} ${f(y)} L${f(x + lean - s * 0.15)} ${f(y - s * 2.4)} L${f(x + lean + s * 0.2)} ${f(y - s * 2.7)} L${f(x + s * 0.5)} ${f(y)}Z" fill="#e9dcff" opacity=".85"/>`;
        out += `<path d="M${f(x + lean + s * 0.2)} ${f(y - s * 2.7)} L${f(x + s * 0.5)} ${f(y)} L${f(x + s * 0.05)} ${f(y)}Z" fill="${t.ground[1]}" opacity=".7"/>`;
        out += `<path d="M${f(x + s * 0.3)} ${f(y)} L${f(x + s * 0.9 + lean)} ${f(y - s * 1.3)} L${f(x + s * 1.1)} ${f(y)}Z" fill="#c7aefc" opacity=".8"/>`;
      }
      break;
    }
    case 'ocean': {
      for (let i = 0; i < 30; i++) {
        const { x, y } = spot();
        const w = (30 + rand() * 60) * depth(y);
        out += `<path d="M${f(x - w)} ${f(y)} q${f(w / 2)} ${f(-6 * depth(y))} ${f(w)} 0 t${f(w)} 0" fill="none" stroke="#bff6ff" stroke-opacity=".45" stroke-width="${f(1 + 2 * depth(y))}" stroke-linecap="round"/>`;
      }
      for (let i = 0; i < 5; i++) {
        const { x, y } = spot();
        const w = (60 + rand() * 110) * depth(y);
        out += `<ellipse cx="${f(x)}" cy="${f(y + 4)}" rx="${f(w * 1.1)}" ry="${f(w * 0.26)}" fill="#bff6ff" opacity=".35"/>`;
        out += `<ellipse cx="${f(x)}" cy="${f(y)}" rx="${f(w)}" ry="${f(w * 0.22)}" fill="#e8d29a"/>`;
        out += `<ellipse cx="${f(x - w * 0.1)}" cy="${f(y - w * 0.04)}" rx="${f(w * 0.7)}" ry="${f(w * 0.14)}" fill="#6dbb5c"/>`;
      }
      break;
    }
  }
  return out;
}

/**
 * The background scene for planet `index`, 1600×1000.
 * @param {number} index
 */
export function planetSvg(index) {
  const t = PLANETS[((index % PLANETS.length) + PLANETS.length) % PLANETS.length];
  const rand = rng(t.seed);
  let stars = '';
  for (let i = 0; i < 170; i++) {
    const x = rand() * 1600;
    const y = rand() * 520;
    if (y > horizonAt(x) - 6) continue;
    const r = rand() < 0.08 ? 1.8 + rand() * 1.2 : 0.5 + rand() * 1.1;
    stars += `<circle cx="${f(x)}" cy="${f(y)}" r="${f(r)}" fill="#fff" opacity="${f(0.35 + rand() * 0.65)}"/>`;
    if (r > 2.2) {
      stars += `<path d="M${f(x - r * 4)} ${f(y)} H${f(x + r * 4)} M${f(x)} ${f(y - r * 4)} V${f(y + r * 4)}" stroke="#fff" stroke-opacity=".45" stroke-width=".8"/>`;
    }
  }
  const nebula = [0, 1, 2]
    .map(() => `<ellipse cx="${f(rand() * 1600)}" cy="${f(60 + rand() * 220)}" rx="${f(260 + rand() * 260)}" ry="${f(90 + rand() * 90)}" fill="url(#neb)" transform="rotate(${f((rand() - 0.5) * 30)} 800 200)"/>`)
    .join('');
  const body = skyBody(t, rand);
  const detail = surfaceDetail(t, rand);
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1600 1000" preserveAspectRatio="xMidYMid slice">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="${t.sky[0]}"/><stop offset=".55" stop-color="${t.sky[1]}"/><stop offset="1" stop-color="${t.sky[1]}"/>
    </linearGradient>
    <radialGradient id="neb"><stop offset="0" stop-color="${t.nebula}" stop-opacity=".28"/><stop offset="1" stop-color="${t.nebula}" stop-opacity="0"/></radialGradient>
    <radialGradient id="bodyShade" cx=".35" cy=".3" r=".85">
      <stop offset="0" stop-color="#fff" stop-opacity=".25"/><stop offset=".55" stop-color="#000" stop-opacity="0"/><stop offset="1" stop-color="#000" stop-opacity=".65"/>
    </radialGradient>
    <radialGradient id="sunGlow"><stop offset="0" stop-color="${t.body}" stop-opacity=".55"/><stop offset=".35" stop-color="${t.body}" stop-opacity=".18"/><stop offset="1" stop-color="${t.body}" stop-opacity="0"/></radialGradient>
    <radialGradient id="ground" cx="${CX}" cy="${HORIZON}" r="900" gradientUnits="userSpaceOnUse" gradientTransform="translate(0 ${HORIZON}) scale(1 .8) translate(0 ${-HORIZON})">
      <stop offset="0" stop-color="${t.ground[0]}"/><stop offset=".55" stop-color="${t.ground[1]}"/><stop offset="1" stop-color="${t.ground[2]}"/>
    </radialGradient>
    <linearGradient id="haze" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="${t.atmo}" stop-opacity=".55"/><stop offset=".12" stop-color="${t.atmo}" stop-opacity=".08"/><stop offset="1" stop-color="#000" stop-opacity=".35"/>
    </linearGradient>
    <filter id="soft" x="-20%" y="-20%" width="140%" height="140%"><feGaussianBlur stdDeviation="6"/></filter>
    <filter id="glow" x="-10%" y="-10%" width="120%" height="120%"><feGaussianBlur stdDeviation="18"/></filter>
    <clipPath id="planet"><circle cx="${CX}" cy="${CY}" r="${R}"/></clipPath>
  </defs>
  <rect width="1600" height="1000" fill="url(#sky)"/>
  ${nebula}
  ${stars}
  ${body}
  <circle cx="${CX}" cy="${CY}" r="${R + 10}" fill="none" stroke="${t.atmo}" stroke-width="40" opacity=".45" filter="url(#glow)"/>
  <circle cx="${CX}" cy="${CY}" r="${R}" fill="url(#ground)"/>
  <g clip-path="url(#planet)">
    ${detail}
    <rect x="0" y="${HORIZON - 140}" width="1600" height="${1000 - HORIZON + 140}" fill="url(#haze)"/>
  </g>
  <circle cx="${CX}" cy="${CY}" r="${R}" fill="none" stroke="${t.atmo}" stroke-opacity=".8" stroke-width="3"/>
</svg>`;
}

// ---------------------------------------------------------------------------------
// Modules: side views in a 100×100 box standing on y≈88, with a soft ground shadow.

const METAL_DEFS = `
    <linearGradient id="cyl" x1="0" y1="0" x2="1" y2="0">
      <stop offset="0" stop-color="#9aa6b8"/><stop offset=".3" stop-color="#f5f8fc"/><stop offset=".7" stop-color="#c7d0dd"/><stop offset="1" stop-color="#7b879a"/>
    </linearGradient>
    <linearGradient id="plate" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#f3f6fa"/><stop offset="1" stop-color="#a9b4c4"/>
    </linearGradient>
    <linearGradient id="dark" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#6d788a"/><stop offset="1" stop-color="#3a4252"/>
    </linearGradient>
    <linearGradient id="glass" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#d9fbff" stop-opacity=".95"/><stop offset=".45" stop-color="#7fd6f0" stop-opacity=".75"/><stop offset="1" stop-color="#2a7fb0" stop-opacity=".85"/>
    </linearGradient>
    <radialGradient id="shadow"><stop offset="0" stop-color="#000" stop-opacity=".5"/><stop offset="1" stop-color="#000" stop-opacity="0"/></radialGradient>
    <filter id="bloom" x="-50%" y="-50%" width="200%" height="200%"><feGaussianBlur stdDeviation="3"/></filter>`;

/** @param {number} rx */
const shadow = (rx) => `<ellipse cx="50" cy="89" rx="${rx}" ry="6" fill="url(#shadow)"/>`;

/**
 * @typedef {object} ModuleDef
 * @property {string} name
 * @property {number} size   drawn width in world units
 * @property {string} body   SVG content inside the shared defs
 * @property {string} [defs] extra defs
 */

/** @type {readonly ModuleDef[]} */
export const MODULES = Object.freeze([
  {
    name: 'Habitat',
    size: 162,
    defs: `<clipPath id="dome"><path d="M16 72 A34 34 0 0 1 84 72Z"/></clipPath>`,
    body: `${shadow(42)}
    <path d="M16 72 A34 34 0 0 1 84 72Z" fill="url(#glass)"/>
    <g clip-path="url(#dome)" fill="none" stroke="#e8f1f8" stroke-width="1.6" opacity=".9">
      <ellipse cx="50" cy="72" rx="17" ry="34"/><ellipse cx="50" cy="72" rx="34" ry="15"/><ellipse cx="50" cy="72" rx="34" ry="26"/><line x1="50" y1="36" x2="50" y2="72"/>
    </g>
    <path d="M27 48 Q36 40 46 40" fill="none" stroke="#fff" stroke-width="3" stroke-linecap="round" opacity=".8"/>
    <rect x="10" y="70" width="80" height="16" rx="4" fill="url(#plate)" stroke="#7b879a" stroke-width="1"/>
    <rect x="42" y="73" width="16" height="13" rx="2" fill="url(#dark)"/>
    <rect x="44" y="75" width="12" height="3" rx="1" fill="#ffd86b"/>
    <circle cx="20" cy="78" r="2.2" fill="#ffd86b"/><circle cx="28" cy="78" r="2.2" fill="#ffd86b"/><circle cx="72" cy="78" r="2.2" fill="#ffd86b"/><circle cx="80" cy="78" r="2.2" fill="#7cf0ff"/>
    <line x1="50" y1="38" x2="50" y2="28" stroke="#c7d0dd" stroke-width="1.6"/><circle cx="50" cy="27" r="2.4" fill="#ff5d5d"/>`,
  },
  {
    name: 'Solar array',
    size: 145,
    defs: `<linearGradient id="cell" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#3b6fd8"/><stop offset=".5" stop-color="#173a8c"/><stop offset="1" stop-color="#0b1d4d"/></linearGradient>`,
    body: `${shadow(34)}
    <rect x="46" y="50" width="8" height="34" fill="url(#cyl)"/>
    <rect x="36" y="80" width="28" height="8" rx="2" fill="url(#dark)"/>
    <circle cx="50" cy="50" r="5" fill="url(#plate)" stroke="#6d788a"/>
    <path d="M16 18 L84 18 L94 50 L6 50Z" fill="url(#cell)" stroke="#dfe6ef" stroke-width="2" stroke-linejoin="round"/>
    <g stroke="#8fb3ff" stroke-opacity=".55" stroke-width="1">
      <path d="M33 18 L28 50 M50 18 L50 50 M67 18 L72 50"/>
      <path d="M12.7 28.7 L87.3 28.7 M9.3 39.3 L90.7 39.3"/>
    </g>
    <path d="M20 21 L44 21 L40 30 L17 30Z" fill="#fff" opacity=".18"/>`,
  },
  {
    name: 'Radar dish',
    size: 140,
    body: `${shadow(26)}
    <path d="M40 88 L45 58 L55 58 L60 88Z" fill="url(#dark)"/>
    <path d="M42 84 L58 64 M58 84 L42 64" stroke="#9aa6b8" stroke-width="1.4"/>
    <rect x="34" y="84" width="32" height="5" rx="2" fill="url(#plate)"/>
    <circle cx="50" cy="56" r="6" fill="url(#plate)" stroke="#6d788a"/>
    <g transform="rotate(-28 50 42)">
      <path d="M16 42 A34 24 0 0 0 84 42Z" fill="url(#dark)"/>
      <ellipse cx="50" cy="42" rx="34" ry="10" fill="url(#plate)"/>
      <ellipse cx="50" cy="43" rx="26" ry="6.5" fill="#c3ccd9"/>
      <path d="M30 42 L50 14 L70 42" fill="none" stroke="#9aa6b8" stroke-width="1.4"/>
      <circle cx="50" cy="13" r="3.6" fill="#ff5d5d"/>
      <circle cx="50" cy="13" r="6" fill="#ff5d5d" opacity=".35" filter="url(#bloom)"/>
    </g>`,
  },
  {
    name: 'Greenhouse',
    size: 175,
    defs: `<linearGradient id="gh" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#e6fff0" stop-opacity=".9"/><stop offset="1" stop-color="#5fd49a" stop-opacity=".55"/></linearGradient>`,
    body: `${shadow(44)}
    <path d="M10 84 L10 60 Q10 40 30 40 L70 40 Q90 40 90 60 L90 84Z" fill="url(#gh)" stroke="#e8f1f8" stroke-width="1.6"/>
    <g fill="#2f9e55"><circle cx="20" cy="76" r="6"/><circle cx="31" cy="73" r="8"/><circle cx="44" cy="76" r="6"/><circle cx="56" cy="72" r="9"/><circle cx="69" cy="76" r="6"/><circle cx="80" cy="73" r="7"/></g>
    <g fill="#5ad17c"><circle cx="29" cy="70" r="4"/><circle cx="54" cy="68" r="5"/><circle cx="78" cy="70" r="4"/></g>
    <g fill="#ff7aa8"><circle cx="33" cy="68" r="1.8"/><circle cx="58" cy="66" r="1.8"/><circle cx="45" cy="73" r="1.6"/></g>
    <g stroke="#e8f1f8" stroke-width="1.4" opacity=".85"><path d="M26 41 L26 84 M42 40 L42 84 M58 40 L58 84 M74 41 L74 84"/><path d="M10 60 L90 60"/></g>
    <path d="M18 48 Q24 43 34 43" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" opacity=".85"/>
    <rect x="6" y="82" width="88" height="6" rx="2" fill="url(#plate)" stroke="#7b879a" stroke-width=".8"/>`,
  },
  {
    name: 'Reactor',
    size: 140,
    defs: `<linearGradient id="core" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="#1fb8c9"/><stop offset=".4" stop-color="#c8ffff"/><stop offset="1" stop-color="#1a8fa8"/></linearGradient>`,
    body: `${shadow(34)}
    <rect x="18" y="44" width="8" height="40" rx="2" fill="url(#dark)"/><rect x="74" y="44" width="8" height="40" rx="2" fill="url(#dark)"/>
    <rect x="28" y="30" width="44" height="56" rx="4" fill="url(#cyl)"/>
    <ellipse cx="50" cy="30" rx="22" ry="6" fill="#e9eef5" stroke="#9aa6b8"/>
    <ellipse cx="50" cy="30" rx="10" ry="2.6" fill="#5ff4ff" opacity=".8"/>
    <rect x="24" y="48" width="52" height="12" rx="2" fill="#5ff4ff" opacity=".7" filter="url(#bloom)"/>
    <rect x="28" y="49" width="44" height="10" fill="url(#core)"/>
    <g fill="#ffd23f"><path d="M28 78 h44 v8 h-44z"/></g>
    <g fill="#2a2f3a"><path d="M32 78 l-4 8 h4 l4 -8z M42 78 l-4 8 h4 l4 -8z M52 78 l-4 8 h4 l4 -8z M62 78 l-4 8 h4 l4 -8z M72 78 l-4 8 h4 l0 -8z"/></g>
    <circle cx="50" cy="68" r="5" fill="#ffd23f"/><circle cx="50" cy="68" r="1.5" fill="#2a2f3a"/>
    <path d="M50 68 l-4.3 -2.5 a5 5 0 0 1 0 5z M50 68 l4.3 -2.5 a5 5 0 0 0 0 5z" fill="#2a2f3a" opacity=".0"/>`,
  },
  {
    name: 'Cargo pods',
    size: 140,
    body: `${shadow(40)}
    <g>
      <path d="M10 60 L16 54 L50 54 L44 60Z" fill="#ffb066"/><rect x="10" y="60" width="34" height="26" fill="#f2812e"/>
      <path d="M44 60 L50 54 L50 80 L44 86Z" fill="#b8561a"/>
      <path d="M15 63 V83 M21 63 V83 M27 63 V83 M33 63 V83 M39 63 V83" stroke="#ffb066" stroke-width="1.2"/>
    </g>
    <g>
      <path d="M48 60 L54 54 L90 54 L84 60Z" fill="#7ee0d6"/><rect x="48" y="60" width="36" height="26" fill="#2bb3a3"/>
      <path d="M84 60 L90 54 L90 80 L84 86Z" fill="#17766c"/>
      <path d="M53 63 V83 M59 63 V83 M65 63 V83 M71 63 V83 M77 63 V83" stroke="#7ee0d6" stroke-width="1.2"/>
    </g>
    <g>
      <path d="M26 34 L32 28 L70 28 L64 34Z" fill="#fff0a0"/><rect x="26" y="34" width="38" height="20" fill="#f5cf3a"/>
      <path d="M64 34 L70 28 L70 48 L64 54Z" fill="#b8941a"/>
      <rect x="38" y="40" width="14" height="8" rx="1" fill="#fff8d6"/><path d="M41 44 h8" stroke="#b8941a" stroke-width="1.4"/>
    </g>`,
  },
  {
    name: 'Fuel tanks',
    size: 138,
    body: `${shadow(38)}
    <rect x="14" y="26" width="28" height="58" rx="14" fill="url(#cyl)"/>
    <rect x="54" y="36" width="30" height="48" rx="15" fill="url(#cyl)"/>
    <rect x="14" y="48" width="28" height="8" fill="#e8443a"/><rect x="54" y="56" width="30" height="8" fill="#3a8ee8"/>
    <text x="28" y="71" font-family="sans-serif" font-size="8" font-weight="700" text-anchor="middle" fill="#6d788a">H₂</text>
    <text x="69" y="77" font-family="sans-serif" font-size="8" font-weight="700" text-anchor="middle" fill="#6d788a">O₂</text>
    <path d="M42 40 H48 V70 H54" fill="none" stroke="#6d788a" stroke-width="3"/>
    <circle cx="48" cy="56" r="3" fill="#ffd23f" stroke="#6d788a"/>
    <rect x="10" y="82" width="80" height="6" rx="2" fill="url(#dark)"/>`,
  },
  {
    name: 'Rocket',
    size: 188,
    defs: `<linearGradient id="hull" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="#b9c2cf"/><stop offset=".35" stop-color="#ffffff"/><stop offset="1" stop-color="#9aa6b8"/></linearGradient>`,
    body: `${shadow(30)}
    <path d="M22 86 L22 24 M30 86 L30 24 M22 30 L30 38 M30 38 L22 46 M22 46 L30 54 M30 54 L22 62 M22 62 L30 70 M30 70 L22 78" stroke="#9aa6b8" stroke-width="1.6" fill="none"/>
    <path d="M30 40 H42" stroke="#9aa6b8" stroke-width="2"/>
    <path d="M50 8 C60 18 62 30 62 44 L62 74 L38 74 L38 44 C38 30 40 18 50 8Z" fill="url(#hull)"/>
    <path d="M50 8 C56 14 59 20 60.5 27 L39.5 27 C41 20 44 14 50 8Z" fill="#e8443a"/>
    <circle cx="50" cy="40" r="5.5" fill="#2a7fb0" stroke="#dfe6ef" stroke-width="2"/>
    <circle cx="48.5" cy="38.5" r="1.6" fill="#d9fbff"/>
    <path d="M38 58 L28 76 L38 74Z M62 58 L72 76 L62 74Z" fill="#e8443a"/>
    <rect x="46" y="54" width="8" height="20" fill="#e8443a" opacity=".9"/>
    <path d="M42 74 L58 74 L55 80 L45 80Z" fill="url(#dark)"/>
    <rect x="32" y="80" width="48" height="8" rx="2" fill="url(#plate)" stroke="#7b879a" stroke-width=".8"/>
    <path d="M36 84 h40" stroke="#ffd23f" stroke-width="2" stroke-dasharray="4 3"/>`,
  },
  {
    name: 'Rover',
    size: 130,
    body: `${shadow(40)}
    <rect x="14" y="52" width="70" height="18" rx="4" fill="url(#plate)" stroke="#7b879a" stroke-width="1"/>
    <path d="M20 52 L26 44 L66 44 L72 52Z" fill="#1f4aa8"/>
    <path d="M30 44 L28 52 M40 44 L39 52 M50 44 L50 52 M60 44 L61 52" stroke="#8fb3ff" stroke-opacity=".6" stroke-width="1"/>
    <rect x="72" y="56" width="14" height="10" rx="2" fill="#f2812e"/>
    <rect x="76" y="58" width="8" height="4" rx="1" fill="#d9fbff"/>
    <path d="M24 44 L24 26" stroke="#9aa6b8" stroke-width="2"/><rect x="19" y="20" width="12" height="8" rx="2" fill="url(#dark)"/><circle cx="28" cy="24" r="2" fill="#7cf0ff"/>
    <path d="M62 44 L62 34" stroke="#9aa6b8" stroke-width="1.4"/><circle cx="62" cy="33" r="2" fill="#ff5d5d"/>
    <path d="M22 70 L22 76 M50 70 L50 76 M76 70 L76 76" stroke="#6d788a" stroke-width="3"/>
    <g fill="#2a2f3a"><circle cx="22" cy="80" r="9"/><circle cx="50" cy="80" r="9"/><circle cx="78" cy="80" r="9"/></g>
    <g fill="#9aa6b8"><circle cx="22" cy="80" r="4"/><circle cx="50" cy="80" r="4"/><circle cx="78" cy="80" r="4"/></g>
    <rect x="14" y="62" width="58" height="3" fill="#f2812e"/>`,
  },
  {
    name: 'Mining drill',
    size: 162,
    body: `${shadow(42)}
    <path d="M56 88 Q70 74 86 88Z" fill="#8b6b4a"/><circle cx="66" cy="82" r="3" fill="#ffd23f"/><circle cx="74" cy="80" r="2.4" fill="#7ee0d6"/><circle cx="78" cy="85" r="2" fill="#ffd23f"/>
    <path d="M26 84 L44 12 L62 84" fill="none" stroke="#f2a33a" stroke-width="3.4" stroke-linejoin="round"/>
    <path d="M30 68 L56 60 M34 52 L53 46 M38 36 L50 31 M30 68 L53 46 M34 52 L50 31" stroke="#f2a33a" stroke-width="1.6"/>
    <rect x="40" y="8" width="8" height="6" rx="1" fill="url(#dark)"/>
    <path d="M44 14 L44 74" stroke="#6d788a" stroke-width="2.4"/>
    <path d="M40 74 L48 74 L44 92Z" fill="#c7d0dd" stroke="#6d788a"/>
    <rect x="10" y="70" width="30" height="18" rx="2" fill="url(#plate)" stroke="#7b879a"/>
    <rect x="10" y="82" width="30" height="6" fill="#ffd23f"/>
    <path d="M13 82 l-3 6 h3 l3 -6z M21 82 l-3 6 h3 l3 -6z M29 82 l-3 6 h3 l3 -6z M37 82 l-3 6 h3 l3 -6z" fill="#2a2f3a"/>
    <rect x="15" y="74" width="8" height="5" rx="1" fill="#7cf0ff"/>
    <path d="M32 70 V62 H36 V70" fill="url(#dark)"/>`,
  },
  {
    name: 'Comms',
    size: 188,
    body: `${shadow(26)}
    <path d="M40 86 L47 14 L53 14 L60 86" fill="none" stroke="#c7d0dd" stroke-width="2.4"/>
    <path d="M41.5 72 L58.5 62 M43 58 L57 48 M44.5 44 L55.5 34 M46 30 L54 22 M41.5 72 L57 48 M43 58 L55.5 34 M44.5 44 L54 22" stroke="#9aa6b8" stroke-width="1.2"/>
    <path d="M41.5 72 L58.5 72 M43 58 L57 58 M44.5 44 L55.5 44 M46 30 L54 30" stroke="#9aa6b8" stroke-width="1.2"/>
    <line x1="50" y1="14" x2="50" y2="4" stroke="#c7d0dd" stroke-width="1.6"/>
    <circle cx="50" cy="4" r="2.6" fill="#ff5d5d"/><circle cx="50" cy="4" r="6" fill="#ff5d5d" opacity=".45" filter="url(#bloom)"/>
    <g transform="rotate(-20 60 36)"><path d="M58 28 A8 8 0 0 1 58 44Z" fill="url(#plate)" stroke="#7b879a" stroke-width=".8"/></g>
    <g transform="rotate(200 40 52)"><path d="M38 45 A7 7 0 0 1 38 59Z" fill="url(#plate)" stroke="#7b879a" stroke-width=".8"/></g>
    <rect x="28" y="74" width="44" height="14" rx="2" fill="url(#plate)" stroke="#7b879a"/>
    <rect x="32" y="78" width="6" height="5" rx="1" fill="#ffd86b"/><rect x="42" y="78" width="6" height="5" rx="1" fill="#ffd86b"/>
    <rect x="58" y="77" width="10" height="11" rx="1" fill="url(#dark)"/>`,
  },
  {
    name: 'Turret',
    size: 130,
    defs: `<radialGradient id="tur" cx=".4" cy=".35" r=".8"><stop offset="0" stop-color="#f5f8fc"/><stop offset=".6" stop-color="#b0bccc"/><stop offset="1" stop-color="#5d687a"/></radialGradient>`,
    body: `${shadow(36)}
    <g transform="rotate(-32 50 56)">
      <rect x="50" y="46" width="42" height="5" rx="2" fill="url(#dark)"/>
      <rect x="50" y="55" width="42" height="5" rx="2" fill="url(#dark)"/>
      <rect x="86" y="45" width="8" height="7" rx="1" fill="#3a4252"/><rect x="86" y="54" width="8" height="7" rx="1" fill="#3a4252"/>
    </g>
    <path d="M22 62 A28 26 0 0 1 78 62Z" fill="url(#tur)" stroke="#6d788a" stroke-width="1"/>
    <rect x="40" y="46" width="16" height="6" rx="3" fill="#2a2f3a"/><circle cx="51" cy="49" r="2" fill="#ff3b3b"/>
    <circle cx="51" cy="49" r="4.5" fill="#ff3b3b" opacity=".5" filter="url(#bloom)"/>
    <path d="M16 62 H84 L78 76 H22Z" fill="url(#dark)"/>
    <path d="M22 76 H78 L82 88 H18Z" fill="url(#plate)" stroke="#7b879a" stroke-width=".8"/>
    <path d="M24 68 H76" stroke="#ffd23f" stroke-width="2.4" stroke-dasharray="5 4"/>`,
  },
]);

/** Art for an `img` index that this client has no drawing for (another client's). */
const UNKNOWN_MODULE = {
  name: 'Supply crate',
  size: 120,
  body: `${shadow(32)}
    <path d="M22 40 L30 32 L78 32 L70 40Z" fill="#d8c3a0"/>
    <rect x="22" y="40" width="48" height="46" fill="#b8925e"/>
    <path d="M70 40 L78 32 L78 78 L70 86Z" fill="#7d5f36"/>
    <path d="M22 40 L70 86 M70 40 L22 86" stroke="#7d5f36" stroke-width="3"/>
    <rect x="22" y="40" width="48" height="46" fill="none" stroke="#7d5f36" stroke-width="3"/>`,
};

/** The module drawn for `img` (any integer; unknown ones get a crate). @param {number} img */
export function moduleDef(img) {
  return MODULES[img] ?? UNKNOWN_MODULE;
}

/** @type {Map<number, string>} */
const moduleCache = new Map();
/** @type {Map<number, string>} */
const planetCache = new Map();

/** A data: URL of module `img`. @param {number} img */
export function moduleUrl(img) {
  let url = moduleCache.get(img);
  if (!url) {
    const m = moduleDef(img);
    const defs = 'defs' in m && m.defs ? m.defs : '';
    url = svgUrl(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><defs>${METAL_DEFS}${defs}</defs>${m.body}</svg>`);
    moduleCache.set(img, url);
  }
  return url;
}

/** A data: URL of planet background `bg`. @param {number} bg */
export function planetUrl(bg) {
  let url = planetCache.get(bg);
  if (!url) {
    url = svgUrl(planetSvg(bg));
    planetCache.set(bg, url);
  }
  return url;
}

/** The planet's display name. @param {number} bg */
export function planetName(bg) {
  return PLANETS[((bg % PLANETS.length) + PLANETS.length) % PLANETS.length].name;
}
