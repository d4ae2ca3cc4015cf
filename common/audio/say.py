"""Speak text into a 16 kHz mono WAV file with eSpeak NG (or flite, Festival), to try the speech applications on:

    python -m common.audio.say "yes" yes.wav
    python -m common.audio.say "three one four" digits.wav --voice en-us+m3 --rate 150 --pitch 40
    python -m common.audio.say "stop" stop.wav --voice flite:slt        # or festival:kal_diphone
"""

from __future__ import annotations

import argparse
import sys

from common.audio import SAMPLE_RATE
from common.audio.synthesis import Synthesizers
from common.audio.wav import write_wav
from common.errors import UsageError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.audio.say", description=__doc__.splitlines()[0])
    parser.add_argument("text", help="what to say")
    parser.add_argument("wav", help="output WAV file")
    parser.add_argument("--voice", default="en-us", help="eSpeak NG accent[+variant], e.g. en-us+m3 or en-gb-scotland+f2; "
                        "flite:NAME (kal, kal16, awb, rms, slt) or festival:NAME (kal_diphone, ked_diphone, "
                        "cmu_us_slt_arctic_hts)")
    parser.add_argument("--rate", type=int, default=160, help="words per minute")
    parser.add_argument("--pitch", type=int, default=50, help="base pitch 0-99")
    args = parser.parse_args(argv)

    try:
        audio = Synthesizers().say(args.text, voice=args.voice, rate=args.rate, pitch=args.pitch)
    except UsageError as exc:
        print(f"say: error: {exc}", file=sys.stderr)
        return exc.exit_code
    write_wav(args.wav, audio)
    print(f"{args.wav}: {len(audio) / SAMPLE_RATE:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
