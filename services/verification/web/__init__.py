"""The customer-services back office: GOV.UK pages over the same actions as the API."""
