"""The guide's §5 pattern for its §9 error example (``validate_numbers``); only the import is orch's."""
from orchestrator_core import BaseScriptlet, Context
import json, sys, argparse

class ValidateNumbers(BaseScriptlet):
    def run(self, ctx, params):
        try:
            numbers = ctx.get("numbers.raw_v1") or params.get("numbers", [])
            if len(numbers) < 5:
                print(json.dumps({"status":"error","reason":"Too few numbers (min=5)","details":{"count":len(numbers)},
                                  "exit_code":1,"step":"validate_numbers","ts":"2025-09-07T12:10:00Z"}))
                return 1
            print("validated", len(numbers), "numbers")
            ctx.set("numbers.validated_v1", numbers, who="validate_numbers")
            print(json.dumps({"status":"ok","outputs":["numbers.validated_v1"],"artifact":"Data/numbers.txt"}))
            return 0
        except Exception as e:
            print(json.dumps({"status":"error","reason":str(e),"exit_code":1,"step":"validate_numbers"}))
            return 1

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", required=True)
    p = json.loads(ap.parse_args().params)
    sys.exit(ValidateNumbers().run(Context(), p))
