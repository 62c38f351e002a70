#!/usr/bin/env bash
# Regenerates the demo samples (examples/audio/) and the test fixtures (tests/data/).
# Needs espeak-ng, sox, opusenc, lame and ffmpeg. The outputs are committed: tests and CI
# read them and never call an encoder. Run from anywhere: ./scripts/make_audio.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
examples="$root/examples/audio"
data="$root/tests/data"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$examples" "$data"

# Encoders stamp their version and the date into tags; keep them out so reruns differ less.
opus() { opusenc --quiet --serial 1 --discard-comments --discard-pictures "$@"; }
mp3() { lame --quiet --noreplaygain "$@"; }

speak() { # speak VOICE TEXT OUT.wav  (espeak-ng writes 22050 Hz mono 16-bit)
    espeak-ng -v "$1" -s 150 -w "$3" "$2"
}

# ---- speech ----------------------------------------------------------------------------
speak en "Hello, and welcome to the speech kit orchestrator demo. This is a short greeting." \
    "$work/greeting.wav"
speak en "Good morning. I am calling about the order you placed last week." "$work/call-left.wav"
speak ru "Здравствуйте. Да, я помню этот заказ, когда его доставят?" "$work/call-right.wav"
speak en "Welcome to episode twelve of our podcast. Today we talk about batch transcription, \
quotas, and why polling once per job is the best you can do." "$work/podcast.wav"
speak ru "Коллеги, начнём совещание. Первый вопрос: сроки релиза." "$work/meeting-left.wav"
speak en "Thanks. The release is planned for the end of next month." "$work/meeting-right.wav"
speak ru "Здравствуйте, это сообщение для Ивана. Перезвоните мне, пожалуйста, после обеда." \
    "$work/voicemail.wav"
speak en "Could you tell us a little about your background?" "$work/interview-left.wav"
speak ru "Конечно. Я пятнадцать лет работаю инженером по обработке звука." \
    "$work/interview-right.wav"

# Two voices, one per channel; sox -M pads the shorter input with silence.
stereo() { sox -R -M "$1" "$2" "$3"; }

sox -R "$work/greeting.wav" -r 48000 "$work/greeting-48k.wav"
opus --bitrate 16 "$work/greeting-48k.wav" "$examples/greeting-mono.ogg"

stereo "$work/call-left.wav" "$work/call-right.wav" "$work/call.wav"
sox -R "$work/call.wav" -r 48000 "$work/call-48k.wav"
opus --bitrate 24 "$work/call-48k.wav" "$examples/call-stereo.ogg"

mp3 -b 32 -m m "$work/podcast.wav" "$examples/podcast-mono.mp3"

stereo "$work/meeting-left.wav" "$work/meeting-right.wav" "$work/meeting.wav"
mp3 -V 8 -m s "$work/meeting.wav" "$examples/meeting-stereo.mp3"

sox -R "$work/voicemail.wav" -r 16000 -b 16 -e signed-integer -c 1 "$examples/voicemail-mono.wav"

stereo "$work/interview-left.wav" "$work/interview-right.wav" "$work/interview.wav"
sox -R "$work/interview.wav" -r 8000 -b 16 -e signed-integer "$examples/interview-stereo.wav"

# ---- test fixtures (1 s tones) ---------------------------------------------------------
tone() { # tone RATE CHANNELS OUT [sox output options...]
    local rate="$1" channels="$2" out="$3"
    shift 3
    sox -R -n -r "$rate" -c "$channels" "$@" "$out" synth 1 sine 440 gain -6
}

tone 48000 1 "$work/t48m.wav" -b 16
tone 48000 2 "$work/t48s.wav" -b 16
opus --bitrate 12 "$work/t48m.wav" "$data/tone-mono.ogg"
opus --bitrate 16 "$work/t48s.wav" "$data/tone-stereo.ogg"
# VBR: lame writes a Xing header (frame count); CBR: it writes none here, length comes from size.
mp3 -V 9 -m m "$work/t48m.wav" "$data/tone-mono.mp3"
mp3 -b 32 -m s "$work/t48s.wav" "$data/tone-stereo.mp3"
tone 16000 1 "$data/tone-16k-mono.wav" -b 16 -e signed-integer
tone 8000 2 "$data/tone-8k-stereo.wav" -b 16 -e signed-integer
tone 44100 1 "$data/tone-44k-mono.wav" -b 16 -e signed-integer
tone 8000 1 "$data/tone-8bit.wav" -b 8 -e unsigned-integer
tone 8000 1 "$data/tone-float.wav" -b 32 -e floating-point
ffmpeg -loglevel error -y -i "$work/t48m.wav" -map_metadata -1 -fflags +bitexact \
    -c:a libvorbis -q:a 0 "$data/tone-vorbis.ogg"
tone 48000 1 "$data/tone-48k-mono.raw" -t raw -b 16 -e signed-integer

du -ch "$examples"/* "$data"/* | tail -n 1
