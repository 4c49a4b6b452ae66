package limits

// What a request reserves at admission, before the provider counts
// anything: the gateway estimates its prompt from the request body's
// size and its output from its max_tokens, and a budget_strict key
// reserves the most the request can cost (see Policy.BudgetStrict).

// bytesPerToken is the usual estimate of prompt tokens from the body's
// size: about four bytes a token for English text and JSON.
const bytesPerToken = 4

// PromptReservation is the prompt tokens a request whose body is
// bodyBytes long reserves: bodyBytes/4 + 1, or, for a budget_strict
// key, bodyBytes (a token is never shorter than one byte of what it
// encodes, so the prompt cannot cost more).
func (k *Key) PromptReservation(bodyBytes int64) int64 {
	if k.strictBudget() {
		return max(bodyBytes, 1)
	}
	return bodyBytes/bytesPerToken + 1
}

// OutputReservation is the output tokens a request reserves, given the
// max_tokens it asks for (0 when it sets none) and the gateway's
// reserve_output_tokens: min(max_tokens, reserve), or reserve when it
// sets none. A budget_strict key reserves all of max_tokens; a request
// of such a key that sets none reserves reserve, and capTo is reserve:
// the gateway must then send max_tokens (or the endpoint's field)
// capTo upstream, so the answer cannot outgrow its reservation. capTo is
// 0 when the request goes as it is.
func (k *Key) OutputReservation(maxTokens, reserve int64) (reserved, capTo int64) {
	switch {
	case maxTokens > 0 && k.strictBudget():
		return maxTokens, 0
	case maxTokens > 0:
		return min(maxTokens, reserve), 0
	case k.strictBudget():
		return reserve, reserve
	}
	return reserve, 0
}

func (k *Key) strictBudget() bool { return k.Policy.Budget > 0 && k.Policy.BudgetStrict }
