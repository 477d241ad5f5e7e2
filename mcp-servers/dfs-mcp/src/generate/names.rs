//! Made-up names: teams (city, nickname, abbreviation) and players, from syllable lists. No real person or
//! team appears; the same generator state gives the same names.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const CITY_START: &[&str] = &[
    "Ash", "Bel", "Cam", "Dor", "Elm", "Fal", "Gran", "Har", "Ir", "Kel", "Lan", "Mar", "Nor", "Or", "Port", "Riv",
    "Sal", "Tal", "Val", "West", "Yar", "Ston", "Bright", "Clay", "Fox", "Quin", "Brook", "Wren", "Pine", "Zel", "Hol",
    "Mill",
];
const CITY_END: &[&str] =
    &["ton", "field", "ville", "ford", "haven", "port", "dale", "burg", "mont", "wood", "bury", "ridge", "view"];
const NICKNAMES: &[&str] = &[
    "Herons",
    "Comets",
    "Lynx",
    "Bison",
    "Otters",
    "Kestrels",
    "Anchors",
    "Foxhounds",
    "Thunder Owls",
    "Ironworks",
    "Lanterns",
    "Voyagers",
    "Granites",
    "Sparrows",
    "Harriers",
    "Wolverines",
    "Tritons",
    "Badgers",
    "Condors",
    "Monarchs",
    "Stingrays",
    "Pilots",
    "Marauders",
    "Rockets",
    "Cyclones",
    "Minutemen",
    "Bobcats",
    "Ospreys",
    "Mammoths",
    "Tempest",
    "Caribou",
    "Stallions",
];
const FIRST_START: &[&str] = &[
    "Ja", "Mar", "Tre", "De", "Ky", "Ro", "Bran", "Cal", "Da", "El", "Fin", "Gar", "Ha", "Is", "Jor", "Ke", "La",
    "Mal", "Ni", "Or", "Pre", "Qui", "Re", "Sa", "Ta", "Ty", "Ver", "Wes", "Za", "Lu", "Mi", "Bo",
];
const FIRST_END: &[&str] =
    &["den", "vin", "ron", "lo", "mon", "ric", "ius", "an", "el", "ey", "ton", "o", "is", "ell", "ard", "ian", "en"];
const LAST_START: &[&str] = &[
    "Bar", "Cor", "Dal", "Ev", "Fair", "Gal", "Hol", "Jen", "Kes", "Lind", "Mor", "Nor", "Pell", "Quar", "Ros", "Stan",
    "Tor", "Ul", "Van", "Whit", "Yor", "Ash", "Brem", "Cald", "Dun", "Fen", "Grim", "Hart",
];
const LAST_MID: &[&str] = &["", "", "", "a", "e", "i", "o", "en", "er", "ing"];
const LAST_END: &[&str] =
    &["by", "ford", "ley", "son", "ton", "wick", "man", "er", "ell", "ham", "ridge", "well", "stone", "field", "more"];

/// A made-up team of a made-up league.
#[derive(Debug, Clone)]
pub(crate) struct Team {
    /// 2-4 capital letters, unique in the league.
    pub abbrev: String,
    pub city: String,
    pub nickname: String,
}

/// `n` teams with unique cities, nicknames and abbreviations.
pub(crate) fn league(rng: &mut ChaCha8Rng, n: usize) -> Vec<Team> {
    let mut teams: Vec<Team> = Vec::with_capacity(n);
    let mut nicknames: Vec<&str> = NICKNAMES.to_vec();
    nicknames.shuffle(rng);
    while teams.len() < n {
        let city = format!("{}{}", pick(rng, CITY_START), pick(rng, CITY_END));
        if teams.iter().any(|t| t.city == city) {
            continue;
        }
        let Some(abbrev) = abbreviate(&city, rng, &teams) else { continue };
        let nickname = nicknames[teams.len() % nicknames.len()].to_owned();
        teams.push(Team { abbrev, city, nickname });
    }
    teams
}

/// Like real leagues: mostly the first three letters, two letters or a fourth when taken.
fn abbreviate(city: &str, rng: &mut ChaCha8Rng, taken: &[Team]) -> Option<String> {
    let letters: Vec<char> = city.chars().filter(|c| c.is_ascii_alphabetic()).map(|c| c.to_ascii_uppercase()).collect();
    let mut options: Vec<String> = Vec::new();
    if letters.len() >= 3 {
        options.push(letters[..3].iter().collect());
        options.push([letters[0], letters[1], letters[letters.len() - 1]].iter().collect());
        options.push([letters[0], letters[2], letters[letters.len() - 1]].iter().collect());
    }
    if rng.gen_bool(0.1) {
        options.insert(0, letters[..2].iter().collect());
    }
    if letters.len() >= 4 {
        options.push(letters[..4].iter().collect());
    }
    options.into_iter().find(|o| !taken.iter().any(|t| &t.abbrev == o))
}

/// A player's name, first and last.
pub(crate) fn person(rng: &mut ChaCha8Rng) -> String {
    let first = format!("{}{}", pick(rng, FIRST_START), pick(rng, FIRST_END));
    let last = format!("{}{}{}", pick(rng, LAST_START), pick(rng, LAST_MID), pick(rng, LAST_END));
    format!("{first} {last}")
}

fn pick<'a>(rng: &mut ChaCha8Rng, from: &[&'a str]) -> &'a str {
    from[rng.gen_range(0..from.len())]
}
